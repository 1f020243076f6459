package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sluice-mail/sluice/plugins/internal/authmail"
	"github.com/sluice-mail/sluice/sdk"
	"github.com/sluice-mail/sluice/sdk/abi"
)

// hostSigner is a crypto.Signer whose private key stays in the host (the
// "sign" grant): Sign sends the digest out and gets the signature back.
// RSA runs natively there, two orders of magnitude faster than Go's RSA
// compiled to Wasm.
type hostSigner struct {
	name string
	pub  crypto.PublicKey
	sign func(name string, data []byte) ([]byte, error) // sdk.Sign
}

func (s hostSigner) Public() crypto.PublicKey { return s.pub }

// Sign signs what go-msgauth's dkim package passes: for RSA the SHA-256
// digest with opts crypto.SHA256 (PKCS#1 v1.5), for Ed25519 the digest as
// the message itself with crypto.Hash(0) (RFC 8463: pure Ed25519 over the
// SHA-256 hash).
func (s hostSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	switch s.pub.(type) {
	case *rsa.PublicKey:
		if _, pss := opts.(*rsa.PSSOptions); pss || opts.HashFunc() != crypto.SHA256 {
			return nil, fmt.Errorf("dkim: host key %q signs SHA-256 PKCS#1 v1.5 digests only", s.name)
		}
	case ed25519.PublicKey:
		if opts.HashFunc() != 0 {
			return nil, fmt.Errorf("dkim: host key %q signs pure Ed25519 only", s.name)
		}
	}
	sig, err := s.sign(s.name, digest)
	if err != nil {
		return nil, fmt.Errorf("dkim: host key %q: %w", s.name, err)
	}
	return sig, nil
}

// hostKeys turns the keys the operator granted (signing_keys, named
// "domain/selector") into signing keys. Without the "sign" grant it
// returns none.
func hostKeys(list func() ([]sdk.SigningKey, error), sign func(string, []byte) ([]byte, error)) ([]signingKey, error) {
	keys, err := list()
	if errors.Is(err, sdk.ErrDenied) || errors.Is(err, sdk.ErrNotInSandbox) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	var out []signingKey
	for _, k := range keys {
		domain, selector, ok := strings.Cut(k.Name, "/")
		domain, valid := authmail.ASCIIDomain(domain)
		if !ok || !valid || domain == "" || selector == "" || strings.ContainsAny(domain+selector, " \t\r\n;=/") {
			return nil, fmt.Errorf("signing_keys: %q: the dkim filter wants keys named \"domain/selector\"", k.Name)
		}
		pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("signing_keys: %q: public key: %w", k.Name, err)
		}
		switch pub.(type) {
		case *rsa.PublicKey:
			if k.Algorithm != abi.SignRSA {
				return nil, fmt.Errorf("signing_keys: %q: RSA public key for algorithm %q", k.Name, k.Algorithm)
			}
		case ed25519.PublicKey:
			if k.Algorithm != abi.SignEd25519 {
				return nil, fmt.Errorf("signing_keys: %q: Ed25519 public key for algorithm %q", k.Name, k.Algorithm)
			}
		default:
			return nil, fmt.Errorf("signing_keys: %q: unsupported key type %T", k.Name, pub)
		}
		out = append(out, signingKey{domain: domain, selector: selector, signer: hostSigner{name: k.Name, pub: pub, sign: sign}})
	}
	return out, nil
}

// withHostKeys puts the host's keys before the configured ones, so that
// keyFor prefers a host key for a domain that has both; a configured key
// with the same domain and selector as a host key is dropped.
func (s *settings) withHostKeys(host []signingKey) {
	if len(host) == 0 {
		return
	}
	keys := append([]signingKey(nil), host...)
	for _, k := range s.keys {
		dup := false
		for _, h := range host {
			dup = dup || (h.domain == k.domain && h.selector == k.selector)
		}
		if !dup {
			keys = append(keys, k)
		}
	}
	s.keys = keys
}
