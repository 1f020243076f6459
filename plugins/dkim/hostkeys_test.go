package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/sdk"
	"github.com/sluice-mail/sluice/sdk/abi"
)

// fakeHost plays the host side of the "sign" grant with real keys: what
// sign_keys lists and what sign computes (plugin/sign.go does the same).
type fakeHost map[string]crypto.Signer

func (h fakeHost) list() ([]sdk.SigningKey, error) {
	var out []sdk.SigningKey
	for name, k := range h {
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			return nil, err
		}
		algo := abi.SignEd25519
		if _, ok := k.(*rsa.PrivateKey); ok {
			algo = abi.SignRSA
		}
		out = append(out, sdk.SigningKey{Name: name, Algorithm: algo, PublicKey: der})
	}
	return out, nil
}

func (h fakeHost) sign(name string, data []byte) ([]byte, error) {
	k, ok := h[name]
	if !ok {
		return nil, sdk.ErrNotFound
	}
	if _, ok := k.(*rsa.PrivateKey); ok {
		return k.Sign(rand.Reader, data, crypto.SHA256)
	}
	return k.Sign(rand.Reader, data, crypto.Hash(0))
}

func TestHostKeysSign(t *testing.T) {
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	h := fakeHost{"example.com/host1": otherRSA, "Host.Example./hed": edKey}
	keys, err := hostKeys(h.list, h.sign)
	if err != nil || len(keys) != 2 {
		t.Fatalf("hostKeys: %v %v", keys, err)
	}
	s := testSettings(t) // config keys: example.com/rsa1 and ed.example/ed1
	s.withHostKeys(keys)
	z := zone{"host1._domainkey.example.com": txtRecord(t, otherRSA), "hed._domainkey.host.example": txtRecord(t, edKey),
		"ed1._domainkey.ed.example": txtRecord(t, edKey)}
	for _, tt := range []struct{ from, domain, selector, algo string }{
		{"alice@example.com", "example.com", "host1", "rsa-sha256"}, // the host key wins over the config's rsa1
		{"alice@mail.host.example", "host.example", "hed", "ed25519-sha256"},
		{"alice@ed.example", "ed.example", "ed1", "ed25519-sha256"}, // config keys still sign
	} {
		out := signed(t, s, strings.Replace(msg, "alice@example.com", tt.from, 1))
		vs := verifyAll(t, out, z)
		if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != tt.domain {
			t.Errorf("%s: verification %+v of\n%s", tt.from, vs[0], out)
		}
		flat := strings.NewReplacer("\r\n", "", " ", "", "\t", "").Replace(out)
		if !strings.Contains(flat, "s="+tt.selector+";") || !strings.Contains(flat, "a="+tt.algo+";") {
			t.Errorf("%s: want s=%s a=%s:\n%s", tt.from, tt.selector, tt.algo, out)
		}
	}
}

func TestHostKeysErrors(t *testing.T) {
	denied := func() ([]sdk.SigningKey, error) { return nil, sdk.ErrDenied }
	if keys, err := hostKeys(denied, nil); keys != nil || err != nil {
		t.Errorf("without the grant: %v %v", keys, err)
	}
	failed := func() ([]sdk.SigningKey, error) { return nil, sdk.HostError(abi.ErrFailed) }
	if _, err := hostKeys(failed, nil); !errors.Is(err, sdk.HostError(abi.ErrFailed)) {
		t.Errorf("failed list: %v", err)
	}
	if _, err := hostKeys(fakeHost{"example.com": edKey}.list, nil); err == nil || !strings.Contains(err.Error(), "domain/selector") {
		t.Errorf("name without selector: %v", err)
	}
	// A signer refuses what the host cannot sign, and reports host errors.
	k := hostSigner{name: "x/y", pub: rsaKey.Public(), sign: fakeHost{}.sign}
	if _, err := k.Sign(nil, make([]byte, 32), crypto.SHA1); err == nil {
		t.Error("RSA host key signed SHA-1")
	}
	if _, err := k.Sign(nil, make([]byte, 32), crypto.SHA256); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("unknown key: %v", err)
	}
	e := hostSigner{name: "x/y", pub: edKey.Public().(ed25519.PublicKey), sign: fakeHost{}.sign}
	if _, err := e.Sign(nil, make([]byte, 32), crypto.SHA256); err == nil {
		t.Error("Ed25519 host key signed prehashed")
	}
}
