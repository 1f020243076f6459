package authmail

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mail/sluice/sdk"
)

// VerifyDKIM checks every DKIM signature of the message (at most max) and
// returns one dkim result per signature, or dkim=none; reason makes the
// errors into the results' reasons. raw is the header as it arrived
// (sdk.DataEvent.RawHeader), which simple header canonicalization needs;
// nil rebuilds it from h (see MessageReader). lookup is asked each key's
// name in A-labels, where a signature gives d= in U-labels: the key is
// published under the A-labels (RFC 8616).
func VerifyDKIM(h sdk.Header, raw []byte, body io.Reader, lookup func(string) ([]string, error), max int, reason func(error) string) []*authres.DKIMResult {
	asciiLookup := func(name string) ([]string, error) { return lookup(asciiDomain(name)) }
	if !h.Has("DKIM-Signature") {
		return []*authres.DKIMResult{{Value: authres.ResultNone}}
	}
	var msg io.Reader
	if raw != nil {
		msg = io.MultiReader(bytes.NewReader(raw), body)
	} else {
		msg = MessageReader(h, body)
	}
	verifs, err := dkim.VerifyWithOptions(msg, &dkim.VerifyOptions{LookupTXT: asciiLookup, MaxVerifications: max})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return []*authres.DKIMResult{{Value: authres.ResultPermError, Reason: reason(err)}}
	}
	var out []*authres.DKIMResult
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

// Reason makes an error into a short A-R reason: its text without each of
// prefixes in turn (where it starts with it), as printable ASCII without
// quotes or backslashes, at most 80 bytes.
func Reason(err error, prefixes ...string) string {
	s := err.Error()
	for _, p := range prefixes {
		s = strings.TrimPrefix(s, p)
	}
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

// DNSError is err, an error of a lookup of name through the host's dns
// grant, as the go-msgauth and SPF libraries expect it: a *net.DNSError,
// not found for sdk.ErrNotFound (NXDOMAIN or no record of the type) and
// temporary for anything else (SERVFAIL, timeout, no grant); nil for nil.
func DNSError(name string, err error) error {
	if errors.Is(err, sdk.ErrNotFound) {
		return &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
	}
	if err != nil {
		return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
	}
	return nil
}
