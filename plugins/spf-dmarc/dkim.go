package main

import (
	"errors"
	"io"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mail/sluice/sdk"
)

// verifyDKIM checks the message's DKIM signatures (at most max) for
// DMARC's DKIM alignment; the same check as plugins/dkim, which signs.
func verifyDKIM(h sdk.Header, body io.Reader, lookup func(string) ([]string, error), max int) []*authres.DKIMResult {
	if !h.Has("DKIM-Signature") {
		return []*authres.DKIMResult{{Value: authres.ResultNone}}
	}
	verifs, err := dkim.VerifyWithOptions(messageReader(h, body), &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: max})
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

// reason makes an error into a short A-R reason: printable ASCII without
// quotes or backslashes, at most 80 bytes.
func reason(err error) string {
	s := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "dkim: "), "dmarc: ")
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
