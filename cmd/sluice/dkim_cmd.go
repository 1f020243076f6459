package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

const dkimUsage = `usage: sluice dkim keygen -domain DOMAIN -selector SELECTOR [-type rsa|ed25519] [-bits N] [-out FILE]
  Writes a new DKIM private key (PEM, PKCS#8, mode 0600; never overwrites)
  to FILE (default SELECTOR._domainkey.DOMAIN.pem in the current directory)
  and prints the DNS TXT record to publish and the signing_keys entry for the
  dkim filter (the "sign" grant: the relay holds the key). The private key is
  only ever written to FILE, never printed.
`

func dkimCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "keygen" {
		fmt.Fprint(stderr, dkimUsage)
		return 2
	}
	fs := newFlagSet("dkim keygen")
	fs.SetOutput(stderr)
	domain := fs.String("domain", "", "signing domain (d=)")
	selector := fs.String("selector", "", "selector (s=)")
	typ := fs.String("type", "rsa", "key type: rsa or ed25519")
	bits := fs.Int("bits", 2048, "RSA key size")
	out := fs.String("out", "", "private key file")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		fmt.Fprint(stderr, dkimUsage)
		return 2
	}
	d, s := strings.ToLower(strings.TrimSuffix(*domain, ".")), *selector
	if !validHostname(d) || !validHostname(s) {
		fmt.Fprintf(stderr, "sluice dkim keygen: -domain and -selector must be host names (got %q, %q)\n", *domain, *selector)
		return 2
	}
	if *out == "" {
		*out = s + "._domainkey." + d + ".pem"
	}
	key, err := newDKIMKey(*typ, *bits)
	if err != nil {
		fmt.Fprintf(stderr, "sluice dkim keygen: %v\n", err)
		return 2
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		fmt.Fprintf(stderr, "sluice dkim keygen: %v\n", err)
		return 1
	}
	pemText := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = f.Write(pemText)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice dkim keygen: %v\n", err)
		return 1
	}
	record, err := dkimRecord(key.Public())
	if err != nil {
		fmt.Fprintf(stderr, "sluice dkim keygen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "; private key written to %s\n; publish this DNS record:\n%s._domainkey.%s. IN TXT %s\n\n", *out, s, d, zoneStrings(record))
	abs, err := filepath.Abs(*out)
	if err != nil {
		abs = *out
	}
	fmt.Fprintf(stdout, "# let the relay hold the key (grants = [\"dns\", \"sign\"]) with, in the dkim filter block:\nsigning_keys = { %q = %q }\n\n", d+"/"+s, abs)
	// The private key stays in the file: stdout ends up in terminals,
	// scrollback, logs and tickets.
	fmt.Fprintf(stdout, "# (or, to sign inside the plugin, paste the key from %s into its config:\n#  keys = [{ domain = %q, selector = %q, key = <<-EOT ... EOT }])\n", *out, d, s)
	return 0
}

func newDKIMKey(typ string, bits int) (crypto.Signer, error) {
	switch typ {
	case "rsa":
		if bits < 2048 {
			return nil, errors.New("-bits: RSA keys under 2048 bits are too weak (RFC 8301 wants at least 1024; 2048 is the norm)")
		}
		if bits > 4096 {
			return nil, errors.New("-bits: at most 4096 (longer keys do not fit a TXT record well and slow every verifier)")
		}
		return rsa.GenerateKey(rand.Reader, bits)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("-type %q: want rsa or ed25519", typ)
}

// dkimRecord is the key record of RFC 6376 section 3.6.1 (RFC 8463 for Ed25519).
func dkimRecord(pub crypto.PublicKey) (string, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(p), nil
	}
	return "", fmt.Errorf("unsupported key %T", pub)
}

// zoneStrings writes a TXT value as zone-file strings of at most 255 bytes
// (one DNS character-string each), which resolvers join again.
func zoneStrings(v string) string {
	var parts []string
	for len(v) > 255 {
		parts, v = append(parts, `"`+v[:255]+`"`), v[255:]
	}
	parts = append(parts, `"`+v+`"`)
	if len(parts) == 1 {
		return parts[0]
	}
	return "( " + strings.Join(parts, "\n\t") + " )"
}

// validHostname accepts LDH labels separated by dots (and "_" inside, as
// selectors and some zones use).
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
