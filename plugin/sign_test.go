package plugin

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeKey writes k as PEM (PKCS#8, or PKCS#1 for RSA when pkcs1) and
// returns the file's path.
func writeKey(t testing.TB, k crypto.Signer, pkcs1 bool) string {
	t.Helper()
	block := &pem.Block{Type: "PRIVATE KEY"}
	if pkcs1 {
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))}
	} else {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		block.Bytes = der
	}
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func signFilter(t testing.TB, name, key string, data []byte, keys ...SigningKey) FilterSpec {
	return behave(t, name, v{"mode": "sign", "sign_key": key, "sign_data": data}, func(f *FilterSpec) {
		if len(keys) > 0 {
			f.Grants, f.SigningKeys = []string{"sign"}, keys
		}
	})
}

// TestSignGrant signs through the sign and sign_keys host functions from a
// real plugin and checks the signatures with the public keys it was given.
func TestSignGrant(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	keys := []SigningKey{ // sign_keys lists them sorted by name
		{Name: "example.org/rsa8", Path: writeKey(t, rsaKey, false)},
		{Name: "example.com/ed1", Path: writeKey(t, edKey, false)},
		{Name: "example.com/rsa1", Path: writeKey(t, rsaKey, true)},
	}
	if err := os.Chmod(keys[1].Path, 0o644); err != nil { // warned about, still used
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("message"))
	h := newTestHost(t,
		signFilter(t, "rsa", "example.com/rsa1", digest[:], keys...),
		signFilter(t, "rsa-pkcs8", "example.org/rsa8", digest[:], keys...),
		signFilter(t, "ed", "example.com/ed1", digest[:], keys...),
		signFilter(t, "wrong-name", "example.com/nope", digest[:], keys...),
		signFilter(t, "rsa-not-digest", "example.com/rsa1", []byte("a whole message, not a digest"), keys...),
		signFilter(t, "denied", "example.com/rsa1", digest[:]),
	)
	run := func(name string) (keys []string, sig string) {
		t.Helper()
		got, ch := runStage(t, h.chain(t, name), "data")
		if got.Action != Continue || ch == nil {
			t.Fatalf("%s: %+v %+v", name, got, ch)
		}
		for _, hf := range ch.Headers {
			switch hf.Name {
			case "X-Key":
				keys = append(keys, hf.Value)
			case "X-Sign":
				sig = hf.Value
			}
		}
		return keys, sig
	}

	if logs := h.logs.String(); strings.Count(logs, "signing key file is readable by every user") != 5 || !strings.Contains(logs, keys[1].Path) {
		t.Errorf("want one warning per filter granted the key about %s:\n%s", keys[1].Path, logs)
	}
	list, sig := run("rsa")
	if len(list) != 3 {
		t.Fatalf("sign_keys: %q", list)
	}
	pubs := map[string]crypto.PublicKey{}
	for i, want := range []string{"example.com/ed1 ed25519 256 ", "example.com/rsa1 rsa 2048 ", "example.org/rsa8 rsa 2048 "} {
		if !strings.HasPrefix(list[i], want) {
			t.Errorf("key %d: %q, want %q...", i, list[i], want)
			continue
		}
		der, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(list[i], want))
		if err != nil {
			t.Fatal(err)
		}
		if pubs[strings.Fields(want)[0]], err = x509.ParsePKIXPublicKey(der); err != nil {
			t.Fatal(err)
		}
	}
	if !rsaKey.PublicKey.Equal(pubs["example.com/rsa1"]) || !edKey.Public().(ed25519.PublicKey).Equal(pubs["example.com/ed1"]) {
		t.Errorf("public keys differ from the private keys' own")
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || rsa.VerifyPKCS1v15(&rsaKey.PublicKey, crypto.SHA256, digest[:], raw) != nil {
		t.Errorf("rsa signature %q does not verify (%v)", sig, err)
	}
	_, sig = run("rsa-pkcs8")
	if raw, err := base64.StdEncoding.DecodeString(sig); err != nil || rsa.VerifyPKCS1v15(&rsaKey.PublicKey, crypto.SHA256, digest[:], raw) != nil {
		t.Errorf("rsa (PKCS#8 file) signature %q does not verify (%v)", sig, err)
	}
	// Ed25519 signs the data itself, as go-msgauth's dkim package passes it
	// (the SHA-256 digest, crypto.Hash(0)).
	_, sig = run("ed")
	if raw, err := base64.StdEncoding.DecodeString(sig); err != nil || !ed25519.Verify(edKey.Public().(ed25519.PublicKey), digest[:], raw) {
		t.Errorf("ed25519 signature %q does not verify (%v)", sig, err)
	}

	for name, want := range map[string]string{
		"wrong-name":     "error: sluice: not found",
		"rsa-not-digest": "error: sluice: invalid argument",
		"denied":         "error: sluice: capability not granted",
	} {
		list, sig := run(name)
		if sig != want {
			t.Errorf("%s: sign answered %q, want %q", name, sig, want)
		}
		if name == "denied" && (len(list) != 1 || list[0] != "error: sluice: capability not granted") {
			t.Errorf("denied: sign_keys answered %q", list)
		}
	}
}

// TestSignGrantBadKeys: a key the host cannot use refuses the filter at
// start, with an error naming the filter, the key and the file.
func TestSignGrantBadKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("GODEBUG", "rsa1024min=0") // let Go make and parse a key sluice refuses
	small, err := rsa.GenerateKey(rand.Reader, 768)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(small.Public())
	for _, tc := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "absent.pem"), "no such file"},
		{"not-pem", write("junk.pem", "not a key\n"), "no PEM block"},
		{"public", write("pub.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))), `PEM type "PUBLIC KEY"`},
		{"corrupt", write("corrupt.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")}))), "invalid PKCS#8 private key"},
		{"short-rsa", writeKey(t, small, true), "RSA key of 768 bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := signFilter(t, "dkim-"+tc.name, "k", nil, SigningKey{Name: "example.com/k", Path: tc.path})
			h, err := NewHost(context.Background(), []FilterSpec{f}, HostOptions{})
			if err == nil {
				h.Close(context.Background())
				t.Fatal("NewHost accepted the key")
			}
			for _, part := range []string{`filter "dkim-` + tc.name + `"`, `signing key "example.com/k" (` + tc.path + `)`, tc.want} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not contain %q", err, part)
				}
			}
		})
	}
	f := behave(t, "no-keys", v{}, func(f *FilterSpec) { f.Grants = []string{"sign"} })
	if h, err := NewHost(context.Background(), []FilterSpec{f}, HostOptions{}); err == nil || !strings.Contains(err.Error(), "signing_keys") {
		if h != nil {
			h.Close(context.Background())
		}
		t.Errorf("grant without keys: %v", err)
	}
}
