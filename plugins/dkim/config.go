package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-mail/sluice/plugins/internal/authmail"
)

// config is the filter's `config = { ... }` block.
type config struct {
	// AuthservID names this relay in Authentication-Results (RFC 8601
	// section 2.5), usually its host name. Without it the filter adds no
	// Authentication-Results and removes none.
	AuthservID string `json:"authserv_id"`
	// Verify checks the DKIM signatures of mail that is not signed here
	// (default true).
	Verify *bool `json:"verify"`
	// Keys sign mail whose From domain is Domain or one of its subdomains,
	// when it comes from an authenticated user or a trusted network.
	Keys []keyConfig `json:"keys"`
	// Headers overrides the header fields to sign (From is always signed
	// and over-signed).
	Headers []string `json:"headers"`
	// MaxSignatures bounds how many signatures of one message are checked
	// (default 5); hostile mail can carry hundreds.
	MaxSignatures int `json:"max_signatures"`
}

type keyConfig struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector"`
	// Key is the private key in PEM: PKCS#8 ("PRIVATE KEY", RSA or
	// Ed25519) or PKCS#1 ("RSA PRIVATE KEY").
	Key string `json:"key"`
}

// signingKey is a parsed keyConfig.
type signingKey struct {
	domain   string // authmail.ASCIIDomain: lower case, A-labels, no trailing dot
	selector string
	signer   crypto.Signer
}

// settings is the parsed, checked configuration.
type settings struct {
	authservID    string
	verify        bool
	keys          []signingKey
	headers       []string
	maxSignatures int
}

// defaultHeaders are the fields signed when present, as commonly signed
// by opendkim and rspamd: those a reader sees and those that change how
// the body is read.
var defaultHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Content-Disposition", "Sender",
	"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
}

func parseConfig(raw []byte) (*settings, error) {
	var c config
	if len(raw) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	s := &settings{authservID: c.AuthservID, verify: c.Verify == nil || *c.Verify,
		headers: c.Headers, maxSignatures: c.MaxSignatures}
	id, ok := authmail.ASCIIDomain(s.authservID)
	if !ok || strings.ContainsAny(s.authservID, " \t\r\n;()\"") {
		return nil, fmt.Errorf("config: authserv_id %q: want a host name", s.authservID)
	}
	s.authservID = id // A-labels: it heads every Authentication-Results

	if s.maxSignatures <= 0 {
		s.maxSignatures = 5
	}
	if len(s.headers) == 0 {
		s.headers = defaultHeaders
	}
	hasFrom := false
	for _, h := range s.headers {
		if h == "" || strings.ContainsAny(h, ": \t\r\n") {
			return nil, fmt.Errorf("config: headers: invalid field name %q", h)
		}
		hasFrom = hasFrom || strings.EqualFold(h, "From")
	}
	if !hasFrom {
		s.headers = append([]string{"From"}, s.headers...)
	}
	for i, k := range c.Keys {
		d, ok := authmail.ASCIIDomain(k.Domain) // as FromDomain gives the From domain
		if !ok || d == "" || k.Selector == "" || strings.ContainsAny(d+k.Selector, " \t\r\n;=") {
			return nil, fmt.Errorf("config: keys[%d]: domain and selector are required host labels", i)
		}
		signer, err := parseKey(k.Key)
		if err != nil {
			return nil, fmt.Errorf("config: keys[%d] (%s): %w", i, d, err)
		}
		s.keys = append(s.keys, signingKey{domain: d, selector: k.Selector, signer: signer})
	}
	return s, nil
}

// parseKey reads an RSA (at least 1024 bits; 2048 recommended) or Ed25519
// private key in PEM.
func parseKey(text string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("key: no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("key: PEM type %q, want PRIVATE KEY or RSA PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("key: RSA key of %d bits; RFC 8301 wants at least 1024 (use 2048)", k.N.BitLen())
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("key: unsupported key type %T", key)
}

// keyFor returns the key for the From domain: the key of that domain, or
// else of its closest configured parent (a signature by the organizational
// domain still aligns under DMARC's relaxed mode).
func (s *settings) keyFor(fromDomain string) (signingKey, bool) {
	d, _ := authmail.ASCIIDomain(fromDomain)
	for d != "" {
		for _, k := range s.keys {
			if k.domain == d {
				return k, true
			}
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			break
		}
		d = d[i+1:]
	}
	return signingKey{}, false
}
