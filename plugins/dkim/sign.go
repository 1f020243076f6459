package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mail/sluice/plugins/internal/authmail"
	"github.com/sluice-mail/sluice/sdk"
)

// signedHeaders lists the configured fields present in h, each once per
// occurrence (go-msgauth picks them from the bottom up), and From once
// more: an over-signed From makes the signature fail if anyone adds a
// second From field later (RFC 6376 section 8.15).
func signedHeaders(h sdk.Header, names []string) []string {
	var keys []string
	for _, n := range names {
		for range h.Values(n) {
			keys = append(keys, n)
		}
		if strings.EqualFold(n, "From") {
			keys = append(keys, n)
		}
	}
	return keys
}

// sign computes a DKIM-Signature for the message (relaxed/relaxed,
// SHA-256) and returns the field's value, ready to prepend.
func sign(k signingKey, headerNames []string, h sdk.Header, body io.Reader) (string, error) {
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 k.domain,
		Selector:               k.selector,
		Signer:                 k.signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             signedHeaders(h, headerNames),
	})
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(s, authmail.MessageReader(h, body)); err != nil {
		s.Close()
		return "", err
	}
	if err := s.Close(); err != nil {
		return "", err
	}
	field := s.Signature() // "DKIM-Signature: v=1; ...\r\n", folded
	name, value, ok := strings.Cut(field, ":")
	if !ok || !strings.EqualFold(name, "DKIM-Signature") {
		return "", fmt.Errorf("dkim: unexpected signature field %q", field)
	}
	return strings.TrimRight(strings.TrimLeft(value, " \t\r\n"), "\r\n"), nil
}
