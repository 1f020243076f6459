package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mail/sluice/sdk"
	"github.com/sluice-mail/sluice/sdk/abi"
)

// testKeys are made once: RSA-2048 generation is slow.
var (
	rsaKey, _   = rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ = ed25519.GenerateKey(rand.Reader)
)

func pemOf(t testing.TB, k crypto.Signer) string {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// txtRecord is the DNS TXT record publishing k's public key.
func txtRecord(t testing.TB, k crypto.Signer) string {
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	t.Fatalf("key type %T", k)
	return ""
}

func testSettings(t testing.TB) *settings {
	raw, _ := json.Marshal(map[string]any{
		"authserv_id": "relay.test",
		"keys": []map[string]string{
			{"domain": "example.com", "selector": "rsa1", "key": pemOf(t, rsaKey)},
			{"domain": "ed.example", "selector": "ed1", "key": pemOf(t, edKey)},
		},
	})
	s, err := parseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// zone answers TXT lookups from a map; other names do not exist.
type zone map[string]string

func (z zone) lookup(name string) ([]string, error) {
	if v, ok := z[strings.TrimSuffix(name, ".")]; ok {
		return []string{v}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// rawHeader is text's header as the host's header_read gives it: through
// the blank line.
func rawHeader(text string) []byte {
	hdr, _, _ := strings.Cut(text, "\r\n\r\n")
	return []byte(hdr + "\r\n\r\n")
}

func header(t testing.TB, text string) (sdk.Header, string) {
	hdr, body, ok := strings.Cut(text, "\r\n\r\n")
	if !ok {
		t.Fatal("no blank line")
	}
	var h sdk.Header
	for _, line := range strings.SplitAfter(hdr+"\r\n", "\r\n") {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			h[len(h)-1].Value += "\r\n" + strings.TrimRight(line, "\r\n")
			continue
		}
		name, value, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		h = append(h, abi.HeaderField{Name: name, Value: strings.TrimLeft(value, " \t")})
	}
	return h, body
}

const msg = "Received: from client by relay.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
	"From: Alice <alice@example.com>\r\n" +
	"To: bob@example.org\r\n" +
	"Subject: a\r\n  folded subject\r\n" +
	"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"\r\n" +
	"Hello Bob,  \r\nsee you.\r\n\r\n\r\n"

// signed returns the message with the outcome's signature prepended, as the
// host writes it.
func signed(t testing.TB, s *settings, text string) string {
	h, body := header(t, text)
	o, err := decide(s, sdk.Session{AuthUser: "alice"}, false, h, nil, strings.NewReader(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.signature == "" || o.authResults != "" {
		t.Fatalf("outcome %+v, want a signature only", o)
	}
	return "DKIM-Signature: " + o.signature + "\r\n" + text
}

func verifyAll(t testing.TB, text string, z zone) []*dkim.Verification {
	vs, err := dkim.VerifyWithOptions(strings.NewReader(text), &dkim.VerifyOptions{LookupTXT: z.lookup})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestSignVerifies(t *testing.T) {
	s := testSettings(t)
	z := zone{"rsa1._domainkey.example.com": txtRecord(t, rsaKey), "ed1._domainkey.ed.example": txtRecord(t, edKey)}
	for _, tt := range []struct{ name, text, domain, algo string }{
		{"rsa", msg, "example.com", "a=rsa-sha256"},
		{"ed25519 for a subdomain", strings.Replace(msg, "alice@example.com", "alice@mail.ed.example", 1), "ed.example", "a=ed25519-sha256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := signed(t, s, tt.text)
			vs := verifyAll(t, out, z)
			if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != tt.domain {
				t.Fatalf("verification %+v of\n%s", vs[0], out)
			}
			sig := strings.ReplaceAll(out[:strings.Index(out, "Received:")], "\r\n ", "")
			for _, want := range []string{tt.algo, "c=relaxed/relaxed", "h=From:From:Subject:Date:To:Message-ID;"} {
				if !strings.Contains(strings.ReplaceAll(sig, " ", ""), strings.ReplaceAll(want, " ", "")) {
					t.Errorf("signature lacks %q: %s", want, sig)
				}
			}
			// Relaxed canonicalization: rewrapped whitespace still verifies.
			loose := strings.Replace(out, "Subject: a\r\n  folded subject", "Subject:   a \r\n\tfolded subject", 1)
			if vs := verifyAll(t, loose, z); vs[0].Err != nil {
				t.Errorf("relaxed: %v", vs[0].Err)
			}
			// A changed body, or a second From added below, breaks it.
			if vs := verifyAll(t, strings.Replace(out, "see you", "see me", 1), z); vs[0].Err == nil {
				t.Error("changed body verifies")
			}
			forged := strings.Replace(out, "\r\n\r\nHello", "\r\nFrom: mallory@evil.example\r\n\r\nHello", 1)
			if vs := verifyAll(t, forged, z); vs[0].Err == nil {
				t.Error("added From verifies: From is not over-signed")
			}
		})
	}
}

func TestNoKeyNoSignature(t *testing.T) {
	s := testSettings(t)
	for _, text := range []string{
		strings.Replace(msg, "alice@example.com", "alice@other.example", 1),
		strings.Replace(msg, "From: Alice <alice@example.com>", "From: a@example.com, b@example.com", 1),
		strings.Replace(msg, "From: Alice <alice@example.com>\r\n", "", 1),
		strings.Replace(msg, "alice@example.com", "alice@notexample.com", 1),
	} {
		h, body := header(t, text)
		o, err := decide(s, sdk.Session{Trusted: true}, false, h, nil, strings.NewReader(body), nil)
		if err != nil || o.signature != "" || o.authResults != "" {
			t.Errorf("outcome %+v, %v for\n%s", o, err, text)
		}
	}
}

func TestVerifyInbound(t *testing.T) {
	s := testSettings(t)
	good := signed(t, s, msg)
	z := zone{"rsa1._domainkey.example.com": txtRecord(t, rsaKey)}
	tests := []struct {
		name, text string
		z          zone
		want       string
	}{
		{"pass", good, z, "dkim=pass header.d=example.com"},
		{"fail", strings.Replace(good, "see you", "see me", 1), z, "dkim=fail"},
		{"no key", good, zone{}, "dkim=permerror"},
		{"unsigned", msg, z, "dkim=none"},
		{"garbage signature", "DKIM-Signature: v=1; a=rsa-sha256; d=\r\n" + msg, z, "dkim=permerror"},
	}
	for _, tt := range tests {
		h, body := header(t, tt.text)
		o, err := decide(s, sdk.Session{ClientIP: "192.0.2.1"}, false, h, rawHeader(tt.text), strings.NewReader(body), tt.z.lookup)
		if err != nil || o.signature != "" {
			t.Fatalf("%s: %+v %v", tt.name, o, err)
		}
		got := strings.ReplaceAll(o.authResults, "\r\n\t", " ")
		if !strings.HasPrefix(got, "relay.test;") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: Authentication-Results %q, want %q", tt.name, got, tt.want)
		}
	}
	// Temporary DNS failure is temperror, not a verdict on the message.
	h, body := header(t, good)
	o, _ := decide(s, sdk.Session{}, false, h, rawHeader(good), strings.NewReader(body), func(string) ([]string, error) {
		return nil, &net.DNSError{Err: "timeout", IsTemporary: true}
	})
	if !strings.Contains(o.authResults, "dkim=temperror") {
		t.Errorf("temporary failure: %q", o.authResults)
	}
}

func TestConfigErrors(t *testing.T) {
	bad := []string{
		`{"authserv_id": "a b"}`,
		`{"keys": [{"domain": "example.com", "selector": "s", "key": "not pem"}]}`,
		`{"keys": [{"domain": "", "selector": "s", "key": ""}]}`,
		`{"headers": ["Subject:"]}`,
		`{"unknown": 1}`,
	}
	for _, c := range bad {
		if _, err := parseConfig([]byte(c)); err == nil {
			t.Errorf("config %s accepted", c)
		}
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	raw, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"domain": "a.example", "selector": "s", "key": pkcs1}}})
	if _, err := parseConfig(raw); err != nil {
		t.Errorf("PKCS#1 key: %v", err)
	}
}

// TestVerifySimpleHeaderCanonicalization: a valid signature made with
// simple header canonicalization over fields not written "Name: value"
// (no space, a tab, two spaces after the colon) verifies from the raw
// header; rebuilt from the parsed fields, as before header_read, it fails.
func TestVerifySimpleHeaderCanonicalization(t *testing.T) {
	text := "From:Alice <alice@example.com>\r\nTo:\tbob@example.org\r\nSubject:  two spaces\r\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nHello Bob.\r\n"
	var b strings.Builder
	if err := dkim.Sign(&b, strings.NewReader(text), &dkim.SignOptions{Domain: "example.com", Selector: "rsa1", Signer: rsaKey,
		HeaderCanonicalization: dkim.CanonicalizationSimple, BodyCanonicalization: dkim.CanonicalizationSimple,
		HeaderKeys: []string{"From", "To", "Subject", "Date"}}); err != nil {
		t.Fatal(err)
	}
	signed := b.String()
	s := testSettings(t)
	z := zone{"rsa1._domainkey.example.com": txtRecord(t, rsaKey)}
	h, body := header(t, signed)
	for _, tt := range []struct {
		name string
		raw  []byte
		want string
	}{{"raw header", rawHeader(signed), "dkim=pass"}, {"rebuilt header", nil, "dkim=fail"}} {
		o, err := decide(s, sdk.Session{ClientIP: "192.0.2.1"}, false, h, tt.raw, strings.NewReader(body), z.lookup)
		if err != nil || !strings.Contains(o.authResults, tt.want) {
			t.Errorf("%s: %q %v, want %s", tt.name, o.authResults, err, tt.want)
		}
	}
}

// TestConfigIDN: names in U-labels are kept in A-labels, as the From
// domain is matched and as they go into headers.
func TestConfigIDN(t *testing.T) {
	raw, _ := json.Marshal(map[string]any{"authserv_id": "Relais.Bücher.example",
		"keys": []map[string]string{{"domain": "Bücher.example.", "selector": "s", "key": pemOf(t, edKey)}}})
	s, err := parseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if s.authservID != "relais.xn--bcher-kva.example" || s.keys[0].domain != "xn--bcher-kva.example" {
		t.Errorf("authserv-id %q, key domain %q", s.authservID, s.keys[0].domain)
	}
	if k, ok := s.keyFor("mail.bücher.example"); !ok || k.selector != "s" {
		t.Error("no key for a subdomain in U-labels")
	}
	raw, _ = json.Marshal(map[string]any{"authserv_id": "\u200d.example"})
	if _, err := parseConfig(raw); err == nil {
		t.Error("authserv_id that is not a valid IDN accepted")
	}
}
