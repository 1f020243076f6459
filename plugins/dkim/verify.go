package main

import (
	"io"

	"github.com/emersion/go-msgauth/authres"

	"github.com/sluice-mail/sluice/plugins/internal/authmail"
	"github.com/sluice-mail/sluice/sdk"
)

// lookupTXT resolves TXT records through the host's dns grant, with the
// errors go-msgauth understands: not found is a permanent failure of the
// key lookup, anything else (SERVFAIL, timeout, no grant) a temporary one.
func lookupTXT(name string) ([]string, error) {
	recs, err := sdk.LookupDNS("TXT", name)
	if err := authmail.DNSError(name, err); err != nil {
		return nil, err
	}
	return recs, nil
}

// verifyMessage checks every DKIM signature of the message (at most max)
// and returns one dkim result per signature, or dkim=none.
func verifyMessage(h sdk.Header, raw []byte, body io.Reader, lookup func(string) ([]string, error), max int) []authres.Result {
	var out []authres.Result
	for _, r := range authmail.VerifyDKIM(h, raw, body, lookup, max, reason) {
		out = append(out, r)
	}
	return out
}

// reason makes an error into a short A-R reason: printable ASCII without
// quotes or backslashes, at most 80 bytes.
func reason(err error) string { return authmail.Reason(err, "dkim: ") }
