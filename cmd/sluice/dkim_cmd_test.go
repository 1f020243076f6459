package main

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mail/sluice/mta/config"
)

// TestDKIMKeygen: the printed TXT record publishes the written key (a
// message signed with the key verifies against the record), and the
// printed signing_keys line and config entry parse as HCL into the file
// the host reads and the PEM the filter reads.
func TestDKIMKeygen(t *testing.T) {
	for _, typ := range []string{"rsa", "ed25519"} {
		t.Run(typ, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "k.pem")
			var stdout, stderr bytes.Buffer
			if code := run([]string{"dkim", "keygen", "-domain", "Example.COM.", "-selector", "s2026", "-type", typ, "-out", out}, nil, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			st, err := os.Stat(out)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v %v", st, err)
			}
			pemText, _ := os.ReadFile(out)
			m := regexp.MustCompile(`(?s)s2026\._domainkey\.example\.com\. IN TXT (.*?)\n\n`).FindStringSubmatch(stdout.String())
			if m == nil {
				t.Fatalf("no TXT record in:\n%s", stdout.String())
			}
			record := strings.Join(regexp.MustCompile(`"([^"]*)"`).FindAllString(m[1], -1), "")
			record = strings.ReplaceAll(record, `"`, "")

			// The signing_keys line, pasted into a filter block with the
			// sign grant, names the key file as domain/selector.
			line := regexp.MustCompile(`(?m)^signing_keys = .*$`).FindString(stdout.String())
			sk, diags := config.Parse([]byte("listener \"smtp\" { address = \"127.0.0.1:2525\" }\ndomain \"localhost\" {\n  deliver \"maildir\" {}\n}\n"+
				"filter \"dkim\" {\n  wasm = \"dkim.wasm\"\n  grants = [\"dns\", \"sign\"]\n  "+line+"\n}\n"), "t.hcl", dir)
			if diags.HasErrors() || len(sk.Filters[0].SigningKeys) != 1 || sk.Filters[0].SigningKeys[0] != (config.SigningKey{Name: "example.com/s2026", Path: out}) {
				t.Errorf("signing_keys line %q: %v %+v", line, diags, sk)
			}

			// The private key is never printed: not the PEM, not its body.
			noKeyPrinted(t, stdout.String()+stderr.String(), pemText)

			// Sign with the file's key, verify against the printed record.
			signer, err := parsePEMSigner(pemText)
			if err != nil {
				t.Fatal(err)
			}
			msg := "From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
			var signed bytes.Buffer
			if err := dkim.Sign(&signed, strings.NewReader(msg), &dkim.SignOptions{Domain: "example.com", Selector: "s2026", Signer: signer}); err != nil {
				t.Fatal(err)
			}
			vs, err := dkim.VerifyWithOptions(&signed, &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
				if name != "s2026._domainkey.example.com" {
					t.Errorf("lookup %q", name)
				}
				return []string{record}, nil
			}})
			if err != nil || len(vs) != 1 || vs[0].Err != nil {
				t.Errorf("verify: %v %+v", err, vs)
			}

			// Never overwrite a key.
			if code := run([]string{"dkim", "keygen", "-domain", "example.com", "-selector", "s2026", "-out", out}, nil, &stdout, &stderr); code == 0 {
				t.Error("overwrote an existing key")
			}
		})
	}
	var stdout, stderr bytes.Buffer
	for _, args := range [][]string{
		{"dkim"}, {"dkim", "keygen"}, {"dkim", "keygen", "-domain", "a b", "-selector", "s"},
		{"dkim", "keygen", "-domain", "example.com", "-selector", "s", "-type", "dsa"},
		{"dkim", "keygen", "-domain", "example.com", "-selector", "s", "-bits", "1024"},
	} {
		if code := run(args, nil, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// noKeyPrinted fails when out holds the private key or any line of it.
func noKeyPrinted(t *testing.T, out string, pemText []byte) {
	t.Helper()
	if strings.Contains(out, "PRIVATE KEY") {
		t.Errorf("private key printed:\n%s", out)
	}
	for _, l := range strings.Split(string(pemText), "\n") {
		if len(l) > 16 && !strings.HasPrefix(l, "-----") && strings.Contains(out, l) {
			t.Errorf("private key line %q printed", l)
		}
	}
}

// TestDKIMKeygenDefaultOut: without -out the key goes to
// SELECTOR._domainkey.DOMAIN.pem in the current directory, mode 0600, and
// is not printed.
func TestDKIMKeygenDefaultOut(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"dkim", "keygen", "-domain", "example.com", "-selector", "s1", "-type", "ed25519"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	file := filepath.Join(dir, "s1._domainkey.example.com.pem")
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	pemText, _ := os.ReadFile(file)
	if !strings.Contains(stdout.String(), "private key written to s1._domainkey.example.com.pem") {
		t.Errorf("stdout does not name the key file:\n%s", stdout.String())
	}
	noKeyPrinted(t, stdout.String()+stderr.String(), pemText)
}

func parsePEMSigner(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	return k.(crypto.Signer), nil
}
