package main

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/plugins/virus/virustest"
)

// virusFilter is an HCL filter block running this plugin with conf.
func virusFilter(t *testing.T, name string, conf map[string]any, extra string) string {
	t.Helper()
	wasm := wasmtest.Build(t, "plugins/virus")
	js, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("filter %q {\n  wasm = %q\n  timeout = \"20s\"\n  memory = \"512MiB\"\n%s\n  config = %s\n}\n", name, wasm, extra, js)
}

func domain(name string, s *relaytest.Sink, filter string) string {
	return fmt.Sprintf("domain %q {\n  filters = [%q]\n  deliver \"smtp\" {\n    address = %q\n    tls = \"none\"\n  }\n}\n", name, filter, s.Addr)
}

// send runs one transaction and returns the DATA reply's code and text.
func send(t *testing.T, r *relaytest.Relay, rcpt string, msg []byte) (int, string) {
	t.Helper()
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<a@example.org>", 250)
	rc.Cmd("RCPT TO:<"+rcpt+">", 250)
	rc.Cmd("DATA", 354)
	body := strings.ReplaceAll("\r\n"+string(msg), "\r\n.", "\r\n..")[2:]
	if !strings.HasSuffix(body, "\r\n") {
		body += "\r\n"
	}
	rc.Send(body + ".\r\n")
	// Read whatever reply comes back.
	line := make([]byte, 512)
	n, err := rc.C.Read(line)
	if err != nil {
		t.Fatal(err)
	}
	reply := strings.TrimRight(string(line[:n]), "\r\n")
	var code int
	fmt.Sscanf(reply, "%d", &code)
	rc.Cmd("QUIT", 221)
	return code, reply
}

func TestVirusThroughRelay(t *testing.T) {
	dir := t.TempDir()
	// A custom database: a body signature with a wildcard and a hash
	// signature, loaded through the files grant.
	custom := []byte("this file carries the CUSTOM-MALWARE marker")
	sum := md5.Sum(custom)
	ndb := filepath.Join(dir, "local.ndb")
	hdb := filepath.Join(dir, "local.hdb")
	os.WriteFile(ndb, []byte("Sluice.Test.Body:0:*:"+hex.EncodeToString([]byte("CUSTOM-"))+"??"+hex.EncodeToString([]byte("ALWARE"))+"\n"), 0o644)
	os.WriteFile(hdb, []byte(fmt.Sprintf("%x:%d:Sluice.Test.Hash\n", sum, len(custom))), 0o644)
	files := fmt.Sprintf("  grants = [\"files\"]\n  files = [%q, %q]\n", ndb, hdb)

	s := relaytest.StartSink(t, false, nil)
	small := map[string]any{"max_total": "8MiB", "max_file_size": "4MiB"}
	cfg := virusFilter(t, "v-reject", map[string]any{"signatures": []string{ndb, hdb}, "limits": small}, files) +
		virusFilter(t, "v-quarantine", map[string]any{"action": "quarantine"}, "") +
		virusFilter(t, "v-strip", map[string]any{"action": "strip", "attachments": map[string]any{"extension": "strip"}}, "") +
		virusFilter(t, "v-tempfail", map[string]any{"on_limit": "tempfail", "limits": small}, "") +
		virusFilter(t, "v-quiet", map[string]any{"header": "none"}, "") +
		sinkDomains(s, map[string]string{"reject.test": "v-reject", "quarantine.test": "v-quarantine",
			"strip.test": "v-strip", "tempfail.test": "v-tempfail", "quiet.test": "v-quiet"})
	r := relaytest.StartRelay(t, cfg)

	eicar := virustest.EICAR()
	att := func(name string, data []byte) []byte {
		return virustest.Message(name, virustest.File{Name: name, Data: data})
	}
	nested := virustest.NestedZip("eicar.txt", eicar, 4)

	for _, c := range []struct {
		name, rcpt string
		msg        []byte
		code       int
		text       string
	}{
		{"plain", "u@reject.test", []byte("From: a@example.org\r\nSubject: plain\r\n\r\n" + string(eicar) + "\r\n"), 554, "5.7.0 Virus found: Eicar-Test-Signature"},
		{"base64", "u@reject.test", att("eicar.txt", eicar), 554, "5.7.0 Virus found: Eicar-Test-Signature"},
		{"nested zip", "u@reject.test", att("n.zip", nested), 554, "5.7.0 Virus found: Eicar-Test-Signature"},
		{"custom ndb", "u@reject.test", att("a.txt", []byte("xx CUSTOM-MALWARE xx")), 554, "Virus found: Sluice.Test.Body"},
		{"custom hdb", "u@reject.test", att("c.txt", custom), 554, "Virus found: Sluice.Test"},
		{"exe name", "u@reject.test", att("setup.exe", []byte("harmless")), 554, "Attachment refused by policy: Sluice.Policy.DangerousExtension"},
		{"bomb", "u@reject.test", att("b.zip", virustest.Bomb(20, 1<<20)), 554, "Heuristics.Limits.Exceeded.MaxTotal"},
		{"bomb tempfail", "u@tempfail.test", att("b.zip", virustest.Bomb(20, 1<<20)), 451, "4.7.0"},
		{"multipart 100", "u@reject.test", virustest.NestedMultipart(100, "deep"), 554, "Heuristics.Limits.Exceeded.MaxRecursion"},
		{"quarantine", "u@quarantine.test", att("n.zip", nested), 250, ""},
		{"strip", "u@strip.test", virustest.Message("strip", virustest.File{Name: "n.zip", Data: nested}, virustest.File{Name: "ok.txt", Data: []byte("fine")}), 250, ""},
	} {
		code, text := send(t, r, c.rcpt, c.msg)
		if code != c.code || !strings.Contains(text, c.text) {
			t.Errorf("%s: got %q, want %d ...%s", c.name, text, c.code, c.text)
		}
	}
	clean := att("report.txt", []byte("quarterly figures"))
	if code, text := send(t, r, "u@quiet.test", clean); code != 250 {
		t.Fatalf("clean: %s", text)
	}
	if code, text := send(t, r, "u@reject.test", clean); code != 250 {
		t.Fatalf("clean: %s", text)
	}
	msgs := s.WaitMessages(t, 3)
	var quiet, tagged, stripped string
	for _, m := range msgs {
		switch {
		case strings.Contains(m.Data, "Subject: strip\r\n"):
			stripped = m.Data
		case m.Rcpts[0] == "u@quiet.test":
			quiet = m.Data
		default:
			tagged = m.Data
		}
	}
	// Clean mail passes byte-exact below the relay's Received header.
	if !strings.HasPrefix(quiet, "Received: ") || !strings.HasSuffix(quiet, "\r\n"+string(clean)) {
		t.Errorf("clean message altered:\n%q", quiet)
	}
	if !strings.Contains(tagged, "\r\nX-Virus-Scan: clean (built-in engine); 2 files") || !strings.HasSuffix(tagged, "\r\n\r\n"+strings.SplitN(string(clean), "\r\n\r\n", 2)[1]) {
		t.Errorf("clean message with header:\n%q", tagged)
	}
	if !strings.Contains(stripped, "X-Virus-Scan: stripped (Eicar-Test-Signature)") ||
		!strings.Contains(stripped, "sluice removed the attachment \"n.zip\" from this message: Eicar-Test-Signatu=\r\nre.") ||
		!strings.Contains(stripped, "ZmluZQ==") || strings.Contains(stripped, "UEsDB") {
		t.Errorf("stripped message:\n%s", stripped)
	}
	q, _ := filepath.Glob(filepath.Join(r.DataDir, "quarantine", "*.msg"))
	if len(q) != 1 {
		t.Fatalf("quarantine holds %d messages", len(q))
	}
}

func sinkDomains(s *relaytest.Sink, m map[string]string) string {
	var b strings.Builder
	for d, f := range m {
		b.WriteString(domain(d, s, f))
	}
	return b.String()
}

// fakeClamd answers every connection with reply (after reading the
// request), or never answers when reply is "".
func fakeClamd(t *testing.T, reply string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clamd.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				var got []byte
				for !strings.HasSuffix(string(got), "\x00\x00\x00\x00") {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					got = append(got, buf[:n]...)
				}
				if reply == "" {
					c.Read(buf) // hang until the client gives up
					return
				}
				c.Write([]byte(reply + "\x00"))
			}()
		}
	}()
	return path
}

func TestClamdCallout(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	grant := func(sock string) string {
		return fmt.Sprintf("  grants = [\"socket\"]\n  socket_endpoint = \"unix:%s\"\n", sock)
	}
	found := fakeClamd(t, "stream: Win.Test.Fake-1 FOUND")
	ok := fakeClamd(t, "stream: OK")
	slow := fakeClamd(t, "")
	down := filepath.Join(t.TempDir(), "nobody.sock")
	clamd := func(mode, onError string) map[string]any {
		return map[string]any{"clamd": map[string]any{"mode": mode, "timeout": "300ms", "on_error": onError}}
	}
	cfg := virusFilter(t, "c-found", clamd("also", "tempfail"), grant(found)) +
		virusFilter(t, "c-ok", clamd("only", "tempfail"), grant(ok)) +
		virusFilter(t, "c-slow", clamd("also", "tempfail"), grant(slow)) +
		virusFilter(t, "c-down", clamd("also", "tempfail"), grant(down)) +
		virusFilter(t, "c-down-continue", clamd("also", "continue"), grant(down)) +
		sinkDomains(s, map[string]string{"found.test": "c-found", "ok.test": "c-ok", "slow.test": "c-slow",
			"down.test": "c-down", "continue.test": "c-down-continue"})
	r := relaytest.StartRelay(t, cfg)
	msg := virustest.Message("clamd", virustest.File{Name: "a.txt", Data: []byte("nothing to see")})
	for _, c := range []struct {
		rcpt string
		code int
		text string
	}{
		{"u@found.test", 554, "Virus found: Win.Test.Fake-1"},
		{"u@ok.test", 250, ""},
		{"u@slow.test", 451, "Virus scanner unavailable"},
		{"u@down.test", 451, "Virus scanner unavailable"},
		{"u@continue.test", 250, ""},
	} {
		code, text := send(t, r, c.rcpt, msg)
		if code != c.code || !strings.Contains(text, c.text) {
			t.Errorf("%s: got %q, want %d ...%s", c.rcpt, text, c.code, c.text)
		}
	}
	for _, m := range s.WaitMessages(t, 2) {
		if m.Rcpts[0] == "u@ok.test" && !strings.Contains(m.Data, "X-Virus-Scan: clean (clamd)") {
			t.Errorf("ok.test message lacks the clamd header:\n%s", m.Data)
		}
	}
}
