package main

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mail/sluice/sdk"
)

// lookupTXT resolves TXT records through the host's dns grant, with the
// errors go-msgauth understands: not found is a permanent failure of the
// key lookup, anything else (SERVFAIL, timeout, no grant) a temporary one.
func lookupTXT(name string) ([]string, error) {
	recs, err := sdk.LookupDNS("TXT", name)
	if errors.Is(err, sdk.ErrNotFound) {
		return nil, &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
	}
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
	}
	return recs, nil
}

// verifyMessage checks every DKIM signature of the message (at most max)
// and returns one dkim result per signature, or dkim=none.
func verifyMessage(h sdk.Header, body io.Reader, lookup func(string) ([]string, error), max int) []authres.Result {
	if !h.Has("DKIM-Signature") {
		return []authres.Result{&authres.DKIMResult{Value: authres.ResultNone}}
	}
	verifs, err := dkim.VerifyWithOptions(messageReader(h, body), &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: max})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return []authres.Result{&authres.DKIMResult{Value: authres.ResultPermError, Reason: reason(err)}}
	}
	var out []authres.Result
	for _, v := range verifs {
		r := &authres.DKIMResult{Value: authres.ResultPass, Domain: v.Domain, Identifier: v.Identifier}
		switch {
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			r.Value, r.Reason = authres.ResultTempError, reason(v.Err)
		case dkim.IsPermFail(v.Err):
			r.Value, r.Reason = authres.ResultPermError, reason(v.Err)
		default:
			r.Value, r.Reason = authres.ResultFail, reason(v.Err)
		}
		out = append(out, r)
	}
	return out
}

// reason makes an error into a short A-R reason: printable ASCII without
// quotes or backslashes, at most 80 bytes.
func reason(err error) string {
	s := strings.TrimPrefix(err.Error(), "dkim: ")
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 80; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			c = ' '
		}
		b = append(b, c)
	}
	return strings.TrimSpace(string(b))
}
