package main

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
)

// dkimpy runs the independent signer/verifier; it skips the test when
// python3-dkim is missing, except in CI, which installs it.
func dkimpy(t *testing.T, txt map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	if _, err := os.Stat("/usr/lib/python3/dist-packages/dkim/__init__.py"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3-dkim is not installed (.ci/run installs it)")
		}
		t.Skip("python3-dkim not installed (apt-get install python3-dkim python3-nacl)")
	}
	js, _ := json.Marshal(txt)
	cmd := exec.Command("/usr/bin/python3", append([]string{"testdata/dkimpy.py"}, args...)...)
	cmd.Env = append(os.Environ(), "DKIM_TXT="+string(js))
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%v: %s%s", err, out, stderr.String())
	}
	return string(out), err
}

func sinkDomain(name string, s *relaytest.Sink) string {
	return fmt.Sprintf("domain %q {\n  filters = [\"dkim\"]\n  deliver \"smtp\" {\n    address = %q\n    tls = \"none\"\n  }\n}\n", name, s.Addr)
}

// send runs one SMTP transaction and returns the DATA reply.
func send(t *testing.T, addr string, auth bool, from, to, data string) string {
	t.Helper()
	rc := relaytest.DialRaw(t, addr)
	rc.Cmd("EHLO client.test", 250)
	if auth {
		rc.Cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+relaytest.User+"\x00"+relaytest.Password)), 235)
	}
	rc.Cmd("MAIL FROM:<"+from+">", 250)
	rc.Cmd("RCPT TO:<"+to+">", 250)
	rc.Cmd("DATA", 354)
	rc.Send(strings.ReplaceAll(data, "\r\n.", "\r\n..") + ".\r\n")
	reply := rc.Expect(250)
	rc.Cmd("QUIT", 221)
	return reply
}

// lastMessage is the n-th message the sink got, without the relay's
// Received on top (prepended fields go right below it).
func lastMessage(t *testing.T, s *relaytest.Sink, n int) string {
	t.Helper()
	msgs := s.WaitMessages(t, n)
	data := msgs[n-1].Data
	if !strings.HasPrefix(data, "Received: from client.test") {
		t.Fatalf("no Received on top:\n%s", data)
	}
	i := strings.Index(data, "\r\n")
	for strings.HasPrefix(data[i+2:], "\t") || strings.HasPrefix(data[i+2:], " ") {
		i += 2 + strings.Index(data[i+2:], "\r\n")
	}
	return data[i+2:]
}

// TestEndToEnd runs the dkim plugin in a live relay with a DNS stub:
// mail the relay signs verifies with dkimpy; mail dkimpy signs verifies in
// sluice; Authentication-Results forged with our authserv-id are removed.
func TestEndToEnd(t *testing.T) {
	pySel, pyKey := "py", filepath.Join(t.TempDir(), "py.pem")
	if err := os.WriteFile(pyKey, []byte(pemOf(t, rsaKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Keys the host holds (the "sign" grant): a PKCS#1 RSA file for
	// example.com, which also has a key in the config (the host's wins),
	// and a PKCS#8 Ed25519 file for hosted.example.
	hostRSA := filepath.Join(t.TempDir(), "hrsa.pem")
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	if err := os.WriteFile(hostRSA, pkcs1, 0o600); err != nil {
		t.Fatal(err)
	}
	hostEd := filepath.Join(t.TempDir(), "hed.pem")
	if err := os.WriteFile(hostEd, []byte(pemOf(t, edKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	txt := map[string]string{
		"rsa1._domainkey.example.com":           txtRecord(t, rsaKey),
		"hrsa._domainkey.example.com":           txtRecord(t, rsaKey),
		"rsa1._domainkey.cfg.example":           txtRecord(t, rsaKey),
		"ed1._domainkey.ed.example":             txtRecord(t, edKey),
		"hed._domainkey.hosted.example":         txtRecord(t, edKey),
		pySel + "._domainkey.py.example":        txtRecord(t, rsaKey),
		"rsa1._domainkey.xn--bcher-kva.example": txtRecord(t, rsaKey),
	}
	resolver := dnstest.TXT(t, txt)
	conf, _ := json.Marshal(map[string]any{
		"authserv_id": "relay.test",
		"keys": []map[string]string{
			{"domain": "example.com", "selector": "rsa1", "key": pemOf(t, rsaKey)},
			{"domain": "cfg.example", "selector": "rsa1", "key": pemOf(t, rsaKey)},
			{"domain": "ed.example", "selector": "ed1", "key": pemOf(t, edKey)},
			{"domain": "Bücher.example", "selector": "rsa1", "key": pemOf(t, rsaKey)},
		},
	})
	sink := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, fmt.Sprintf("filter \"dkim\" {\n  wasm = %q\n  stages = [\"data\"]\n  grants = [\"dns\", \"sign\"]\n"+
		"  signing_keys = { \"example.com/hrsa\" = %q, \"hosted.example/hed\" = %q }\n  resolver = %q\n  timeout = \"10s\"\n  config = %s\n}\n",
		wasmtest.Build(t, "plugins/dkim"), hostRSA, hostEd, resolver, conf)+sinkDomain("remote.test", sink))

	outbound := func(from string) string {
		return "From: Alice <" + from + ">\r\nTo: bob@remote.test\r\nSubject: hello\r\n  from sluice\r\n" +
			"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <" + from + ">\r\n" +
			"Authentication-Results: relay.test; dkim=pass header.d=forged.example\r\n" +
			"\r\nHi Bob,\r\n\r\n.dotted line  \r\nbye\r\n\r\n"
	}
	n := 0
	for _, tt := range []struct{ name, from, algo, selector string }{
		{"rsa with the host's key", "alice@example.com", "rsa-sha256", "hrsa"},
		{"ed25519 with the host's key", "alice@hosted.example", "ed25519-sha256", "hed"},
		{"rsa with a config key", "alice@cfg.example", "rsa-sha256", "rsa1"},
		{"ed25519 with a config key", "alice@ed.example", "ed25519-sha256", "ed1"},
	} {
		t.Run("relay signs "+tt.name, func(t *testing.T) {
			// The envelope sender is alice's own (the relay binds it to
			// her login); the From domain picks the key.
			send(t, r.Addr("smtp-insecure-auth"), true, "alice@example.com", "bob@remote.test", outbound(tt.from))
			n++
			got := lastMessage(t, sink, n)
			flat := strings.NewReplacer("\r\n", "", " ", "", "\t", "").Replace(got)
			if !strings.HasPrefix(got, "DKIM-Signature: ") || !strings.Contains(flat, "a="+tt.algo+";") || !strings.Contains(flat, "s="+tt.selector+";") {
				t.Fatalf("not signed on top with a=%s s=%s:\n%s", tt.algo, tt.selector, got)
			}
			if strings.Contains(got, "Authentication-Results: relay.test") {
				t.Errorf("forged Authentication-Results kept:\n%s", got)
			}
			if out, err := dkimpy(t, txt, got, "verify"); err != nil || !strings.HasPrefix(out, "pass") {
				t.Errorf("dkimpy verify: %q %v\n%s", out, err, got)
			}
			// dkimpy must be able to say no: a changed body fails.
			if out, err := dkimpy(t, txt, strings.Replace(got, "bye", "bye!", 1), "verify"); err == nil {
				t.Errorf("dkimpy passed a changed message: %q", out)
			}
		})
	}

	inbound := "From: Py <py@py.example>\r\nTo: bob@remote.test\r\nSubject: signed by dkimpy\r\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <py@py.example>\r\n" +
		"Authentication-Results: other.example; dkim=pass\r\n" +
		"Authentication-Results: relay.test; dkim=pass header.d=bank.example\r\n" +
		"\r\nBody  with  spaces\r\n\r\n"
	for _, tt := range []struct{ canon, tamper, want string }{
		{"simple/simple", "", "dkim=pass"},
		{"relaxed/relaxed", "", "dkim=pass"},
		{"relaxed/simple", "Body  with", "dkim=fail"},
	} {
		t.Run("dkimpy signs "+tt.canon+" "+tt.want, func(t *testing.T) {
			msg, err := dkimpy(t, txt, inbound, "sign", pySel, "py.example", pyKey, tt.canon)
			if err != nil {
				t.Fatal(err)
			}
			if tt.tamper != "" {
				msg = strings.Replace(msg, tt.tamper, "Body with", 1)
			}
			send(t, r.Addr("smtp"), false, "py@py.example", "bob@remote.test", msg)
			n++
			got := lastMessage(t, sink, n)
			ar, _, _ := strings.Cut(got, "\r\nDKIM-Signature: ")
			ar = strings.ReplaceAll(ar, "\r\n\t", " ")
			if !strings.HasPrefix(ar, "Authentication-Results: relay.test;") || !strings.Contains(ar, tt.want) ||
				(tt.want == "dkim=pass" && !strings.Contains(ar, "header.d=py.example")) {
				t.Errorf("Authentication-Results %q, want %s", ar, tt.want)
			}
			if strings.Contains(got, "bank.example") || !strings.Contains(got, "Authentication-Results: other.example; dkim=pass") {
				t.Errorf("forged A-R kept or foreign one removed:\n%s", got)
			}
		})
	}

	// A From domain in U-labels, in mail sent without SMTPUTF8: the
	// signature and the Authentication-Results name it in A-labels (raw
	// UTF-8 would make the host refuse them, and tempfail the message),
	// and the key is looked up under the A-labels.
	t.Run("IDN domain without SMTPUTF8", func(t *testing.T) {
		text := "From: Alice <alice@bücher.example>\r\nTo: bob@remote.test\r\nSubject: idn\r\n" +
			"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <idn@xn--bcher-kva.example>\r\n\r\nHallo Bob.\r\n"
		send(t, r.Addr("smtp-insecure-auth"), true, "alice@example.com", "bob@remote.test", text)
		n++
		got := lastMessage(t, sink, n)
		flat := strings.NewReplacer("\r\n", "", " ", "", "\t", "").Replace(got)
		if !strings.HasPrefix(got, "DKIM-Signature: ") || !strings.Contains(flat, "d=xn--bcher-kva.example;") {
			t.Fatalf("not signed with d=xn--bcher-kva.example:\n%s", got)
		}
		if vs := verifyAll(t, got, zone(txt)); len(vs) != 1 || vs[0].Err != nil {
			t.Errorf("the signature does not verify: %+v\n%s", vs, got)
		}

		// Signed with d= and i= in U-labels: the key is found under the
		// A-labels, and the result names them.
		var b strings.Builder
		if err := dkim.Sign(&b, strings.NewReader(text), &dkim.SignOptions{Domain: "bücher.example", Selector: "rsa1", Signer: rsaKey,
			Identifier: "alice@bücher.example"}); err != nil {
			t.Fatal(err)
		}
		send(t, r.Addr("smtp"), false, "alice@xn--bcher-kva.example", "bob@remote.test", b.String())
		n++
		ar, _, _ := strings.Cut(lastMessage(t, sink, n), "\r\nDKIM-Signature: ")
		if ar = strings.ReplaceAll(ar, "\r\n\t", " "); !strings.Contains(ar, "dkim=pass header.d=xn--bcher-kva.example header.i=alice@xn--bcher-kva.example") {
			t.Errorf("Authentication-Results %q, want dkim=pass in A-labels", ar)
		}
	})

	// Simple header canonicalization over fields not written "Name: value"
	// verifies: the plugin reads the header as it arrived (header_read).
	t.Run("simple header canonicalization with odd spacing", func(t *testing.T) {
		text := "From:Carol <carol@example.com>\r\nTo:\tbob@remote.test\r\nSubject:  odd  spacing\r\n" +
			"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <odd@example.com>\r\n\r\nHello Bob.\r\n"
		var b strings.Builder
		if err := dkim.Sign(&b, strings.NewReader(text), &dkim.SignOptions{Domain: "example.com", Selector: "rsa1", Signer: rsaKey,
			HeaderCanonicalization: dkim.CanonicalizationSimple, BodyCanonicalization: dkim.CanonicalizationSimple}); err != nil {
			t.Fatal(err)
		}
		send(t, r.Addr("smtp"), false, "carol@example.com", "bob@remote.test", b.String())
		n++
		ar, _, _ := strings.Cut(lastMessage(t, sink, n), "\r\nDKIM-Signature: ")
		if ar = strings.ReplaceAll(ar, "\r\n\t", " "); !strings.Contains(ar, "dkim=pass header.d=example.com") {
			t.Errorf("Authentication-Results %q, want dkim=pass", ar)
		}
	})
}

// TestSignsAfterEarlierFilters: in a live relay, a dkim filter placed after
// a filter that tags the Subject and replaces the body signs the message as
// it is sent, so the signature verifies; placed before it, it signs a
// message that is then changed, and verification fails (which shows the
// check can fail).
func TestSignsAfterEarlierFilters(t *testing.T) {
	z := zone{"rsa1._domainkey.example.com": txtRecord(t, rsaKey)}
	conf, _ := json.Marshal(map[string]any{"authserv_id": "relay.test",
		"keys": []map[string]string{{"domain": "example.com", "selector": "rsa1", "key": pemOf(t, rsaKey)}}})
	changes, _ := json.Marshal(map[string]any{"changes": []map[string]any{
		{"op": "set", "name": "Subject", "value": "[tagged] hello"}, {"op": "body", "value": "a new body\r\n"}}})
	sink := relaytest.StartSink(t, false, nil)
	domain := func(name string, filters ...string) string {
		fl, _ := json.Marshal(filters)
		return fmt.Sprintf("domain %q {\n  filters = %s\n  deliver \"smtp\" {\n    address = %q\n    tls = \"none\"\n  }\n}\n", name, fl, sink.Addr)
	}
	r := relaytest.StartRelay(t, fmt.Sprintf("filter \"dkim\" {\n  wasm = %q\n  stages = [\"data\"]\n  timeout = \"10s\"\n  config = %s\n}\n"+
		"filter \"changes\" {\n  wasm = %q\n  timeout = \"10s\"\n  config = %s\n}\n",
		wasmtest.Build(t, "plugins/dkim"), conf, wasmtest.Build(t, "plugin/testdata/behave"), changes)+
		domain("last.test", "changes", "dkim")+domain("first.test", "dkim", "changes"))

	for i, tt := range []struct {
		rcpt string
		pass bool
	}{{"bob@last.test", true}, {"bob@first.test", false}} {
		send(t, r.Addr("smtp-insecure-auth"), true, "alice@example.com", tt.rcpt,
			"From: Alice <alice@example.com>\r\nTo: "+tt.rcpt+"\r\nSubject: hello\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"+
				"Message-ID: <"+tt.rcpt+">\r\n\r\nthe original body\r\n")
		got := lastMessage(t, sink, i+1)
		if !strings.Contains(got, "\r\nSubject: [tagged] hello\r\n") || !strings.HasSuffix(got, "\r\n\r\na new body\r\n") {
			t.Fatalf("%s: the changes were not applied:\n%s", tt.rcpt, got)
		}
		vs := verifyAll(t, got, z)
		if len(vs) != 1 {
			t.Fatalf("%s: %d signatures:\n%s", tt.rcpt, len(vs), got)
		}
		if ok := vs[0].Err == nil; ok != tt.pass {
			t.Errorf("%s: verification error %v, want pass=%v\n%s", tt.rcpt, vs[0].Err, tt.pass, got)
		}
	}
}
