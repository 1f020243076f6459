package main

import (
	"bytes"
	"fmt"
	"mime"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/sdk"
)

func smtpDomain(name, addr string, filters ...string) string {
	fl := "[]"
	if len(filters) > 0 {
		fl = `["` + strings.Join(filters, `", "`) + `"]`
	}
	return fmt.Sprintf("domain %q {\n  filters = %s\n  deliver \"smtp\" {\n    address = %q\n    tls = \"none\"\n  }\n}\n", name, fl, addr)
}

// e2eMessage is 8-bit mail: a mostly-ASCII text part, a Cyrillic one, a
// binary attachment with an 8-bit file name, an HTML part with a script
// and a remote image, and a Subject too long for one line. It has neither
// Date nor Message-ID.
var e2eMessage = "From: Anna <anna@example.org>\r\nTo: bob@seven.example\r\n" +
	"Subject: " + strings.Repeat("quarterly figures ", 8) + "final\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
	"--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n" +
	"--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
	"Grüße aus Köln!\r\n.\r\n-- \r\nFrom Anna\r\n" +
	"--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
	"<p onclick=\"steal()\">Grüße<script>steal()</script><img src=\"https://track.example/p.gif\"></p>\r\n" +
	"--alt--\r\n" +
	"--outer\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
	"Привет, мир! Это почти весь текст.\r\n" +
	"--outer\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"données.bin\"\r\n\r\n" +
	"\x01\x02\xfe\xff binary \x80\x81\r\n\r\n" +
	"--outer--\r\n"

// TestRelayNormalize sends mail through a live relay to two next hops: one
// whose domain runs the normalize filter (8-bit re-encoded, HTML stripped,
// Subject folded, Date and Message-ID added) and one that does not (the
// message arrives as sent); a clean 7-bit message through the filter with
// Date and Message-ID arrives byte-exact.
func TestRelayNormalize(t *testing.T) {
	wasm := wasmtest.Build(t, "plugins/normalize")
	seven := relaytest.StartSink(t, false, nil)
	plain := relaytest.StartSink(t, false, nil)
	cfg := fmt.Sprintf("filter \"normalize\" {\n  wasm = %q\n  memory = \"128MiB\"\n  config = { eight_bit = \"encode\", hostname = \"relay.test\", html = {} }\n}\n", wasm) +
		smtpDomain("seven.example", seven.Addr, "normalize") +
		smtpDomain("plain.example", plain.Addr)
	r := relaytest.StartRelay(t, cfg)

	clean := "From: a@example.org\r\nTo: c@seven.example\r\nSubject: clean\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n" +
		"Message-ID: <clean@example.org>\r\n\r\nplain 7-bit text\r\n"
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	for _, m := range []struct{ to, data string }{
		{"bob@seven.example", e2eMessage},
		{"bob@plain.example", e2eMessage},
		{"c@seven.example", clean},
	} {
		rc.Cmd("MAIL FROM:<anna@example.org> BODY=8BITMIME", 250)
		rc.Cmd("RCPT TO:<"+m.to+">", 250)
		rc.Cmd("DATA", 354)
		rc.Send(strings.ReplaceAll(m.data, "\r\n.", "\r\n..") + ".\r\n") // dot-stuffing (RFC 5321 4.5.2)
		rc.Expect(250)
	}
	rc.Cmd("QUIT", 221)

	got := seven.WaitMessages(t, 2)
	var norm, cleanOut string
	for _, m := range got {
		if strings.Contains(m.Data, "Subject: clean") {
			cleanOut = m.Data
		} else {
			norm = m.Data
		}
	}
	_, origBody := splitMessage(e2eMessage)
	if _, body := splitMessage(cleanOut); body != "plain 7-bit text\r\n" || !strings.HasSuffix(cleanOut, "\r\n\r\n"+body) ||
		!strings.Contains(cleanOut, clean[:len(clean)-len(body)]) {
		t.Errorf("clean 7-bit message not byte-exact:\n%s", cleanOut)
	}

	// Re-encoded: 7-bit, and every part decodes to the very same bytes.
	hdr, body := splitMessage(norm)
	check7bit(t, body)
	want, wantTypes := leaves(t, []byte(e2eMessage))
	gotLeaves, gotTypes := leaves(t, []byte(norm))
	if len(gotLeaves) != len(want) {
		t.Fatalf("%d parts at the sink, want %d:\n%s", len(gotLeaves), len(want), norm)
	}
	for i := range want {
		if gotTypes[i] != wantTypes[i] {
			t.Errorf("part %d is %s, want %s", i, gotTypes[i], wantTypes[i])
		}
		if wantTypes[i] == "text/html" {
			if string(gotLeaves[i]) != "<p>Grüße<img></p>" {
				t.Errorf("HTML part %q: script, handler and remote image should be gone", gotLeaves[i])
			}
			continue
		}
		if !bytes.Equal(gotLeaves[i], want[i]) {
			t.Errorf("part %d decodes to %q, want %q", i, gotLeaves[i], want[i])
		}
	}
	for _, s := range []string{"Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe", "Content-Transfer-Encoding: base64\r\n\r\n0J/RgNC4",
		"filename*=utf-8''donn%C3%A9es.bin"} {
		if !strings.Contains(body, s) {
			t.Errorf("body lacks %q:\n%s", s, body)
		}
	}
	// Header: Subject folded (unfolding gives it back), Date and Message-ID added.
	var subject string
	for _, l := range strings.Split(hdr, "\r\n") {
		if len(l) > 78 {
			t.Errorf("header line of %d characters: %q", len(l), l)
		}
	}
	msg := parseHeader(t, hdr)
	subject = msg.Get("Subject")
	if wantSubj := strings.Repeat("quarterly figures ", 8) + "final"; subject != wantSubj || !strings.Contains(hdr, "quarterly\r\n figures") {
		t.Errorf("Subject %q folded wrong:\n%s", subject, hdr)
	}
	if d := msg.Get("Date"); d == "" {
		t.Errorf("no Date added:\n%s", hdr)
	}
	if id := msg.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@relay.test>") || len(id) != len("<@relay.test>")+32 {
		t.Errorf("Message-ID %q", id)
	}

	// Without the filter the same message arrives as sent.
	p := plain.WaitMessages(t, 1)[0].Data
	if _, b := splitMessage(p); b != origBody {
		t.Errorf("unfiltered body changed")
	}
}

// TestRelayDKIMSkipped: a DKIM-signed 8-bit message is left whole by
// default, so its signature stays valid.
func TestRelayDKIMSkipped(t *testing.T) {
	wasm := wasmtest.Build(t, "plugins/normalize")
	sink := relaytest.StartSink(t, false, nil)
	cfg := fmt.Sprintf("filter \"normalize\" {\n  wasm = %q\n  config = { eight_bit = \"encode\", hostname = \"relay.test\" }\n}\n", wasm) +
		smtpDomain("seven.example", sink.Addr, "normalize")
	r := relaytest.StartRelay(t, cfg)
	signed := "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s;\r\n h=from:to:subject:date:message-id; bh=AAAA; b=BBBB\r\n" +
		"From: a@example.org\r\nTo: b@seven.example\r\nSubject: signed\r\n\r\ncaf\xe9 cr\xe8me\r\n"
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<a@example.org> BODY=8BITMIME", 250)
	rc.Cmd("RCPT TO:<b@seven.example>", 250)
	rc.Cmd("DATA", 354)
	rc.Send(signed + ".\r\n")
	rc.Expect(250)
	rc.Cmd("QUIT", 221)
	got := sink.WaitMessages(t, 1)[0].Data
	if !strings.HasSuffix(got, "\r\n"+signed) {
		t.Errorf("signed message changed:\n%q", got)
	}
}

type header map[string]string

func (h header) Get(k string) string { return h[strings.ToLower(k)] }

// parseHeader unfolds a header block into its first value per name.
func parseHeader(t *testing.T, hdr string) header {
	t.Helper()
	h := header{}
	for _, f := range strings.Split(strings.ReplaceAll(hdr, "\r\n ", " "), "\r\n") {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(k)
		if _, dup := h[k]; !dup {
			d, err := new(mime.WordDecoder).DecodeHeader(strings.TrimSpace(sdk.Unfold(v)))
			if err != nil {
				t.Fatal(err)
			}
			h[k] = d
		}
	}
	return h
}

// TestRelayUTF8Headers: encoded-words become UTF-8 only in mail that came
// with SMTPUTF8 (which the relay sends on with SMTPUTF8).
func TestRelayUTF8Headers(t *testing.T) {
	wasm := wasmtest.Build(t, "plugins/normalize")
	sink := relaytest.StartSink(t, false, nil)
	cfg := fmt.Sprintf("filter \"normalize\" {\n  wasm = %q\n  config = { utf8_headers = true, hostname = \"relay.test\" }\n}\n", wasm) +
		smtpDomain("utf8.example", sink.Addr, "normalize")
	r := relaytest.StartRelay(t, cfg)
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	for i, mailCmd := range []string{"MAIL FROM:<a@example.org> SMTPUTF8", "MAIL FROM:<a@example.org>"} {
		rc.Cmd(mailCmd, 250)
		rc.Cmd("RCPT TO:<b@utf8.example>", 250)
		rc.Cmd("DATA", 354)
		rc.Send(fmt.Sprintf("From: =?iso-8859-1?q?J=F6rg?= <a@example.org>\r\nTo: b@utf8.example\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= %d\r\n"+
			"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <m%d@example.org>\r\n\r\nhi\r\n.\r\n", i, i))
		rc.Expect(250)
	}
	rc.Cmd("QUIT", 221)
	for _, m := range sink.WaitMessages(t, 2) {
		want := []string{"\r\nFrom: Jörg <a@example.org>\r\n", "\r\nSubject: Grüße 0\r\n"} // came with SMTPUTF8
		if strings.Contains(m.Data, "<m1@example.org>") {
			want = []string{"\r\nFrom: =?iso-8859-1?q?J=F6rg?= <a@example.org>\r\n", "\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= 1\r\n"}
		}
		for _, w := range want {
			if !strings.Contains(m.Data, w) {
				t.Errorf("lacks %q:\n%s", w, m.Data)
			}
		}
	}
}

// TestRelayNormalizeOverMaxSize: a body above max_size cannot come back
// whole, so its 8-bit leaf parts are re-encoded one by one (part
// replacements) and the rest of the body, a large attachment, is left as
// it is. Before, such a message went on 8-bit to the 7-bit next hop.
func TestRelayNormalizeOverMaxSize(t *testing.T) {
	wasm := wasmtest.Build(t, "plugins/normalize")
	seven := relaytest.StartSink(t, false, nil)
	cfg := fmt.Sprintf("filter \"normalize\" {\n  wasm = %q\n  memory = \"128MiB\"\n  config = { eight_bit = \"encode\", hostname = \"relay.test\", max_size = \"64KiB\" }\n}\n", wasm) +
		smtpDomain("seven.example", seven.Addr, "normalize")
	r := relaytest.StartRelay(t, cfg)

	var att strings.Builder
	for i := 0; i < 2000; i++ { // about 150 KB of base64, already 7-bit
		att.WriteString("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n")
	}
	multi := "From: Anna <anna@example.org>\r\nTo: bob@seven.example\r\nSubject: big\r\n" +
		"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <big@example.org>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
		"--outer\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		"Grüße aus Köln!\r\n.\r\n-- \r\nFrom Anna\r\n" +
		"--outer\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"données.bin\"\r\n\r\n" +
		"\x01\x02\xfe\xff binary \x80\x81\r\n" +
		"--outer\r\nContent-Type: application/zip; name=\"big.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + att.String() +
		"--outer--\r\n"
	single := "From: a@example.org\r\nTo: c@seven.example\r\nSubject: single\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n" +
		"Message-ID: <single@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.Repeat("café crème brûlée\r\n", 4000)
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	for _, m := range []string{multi, single} {
		rc.Cmd("MAIL FROM:<anna@example.org> BODY=8BITMIME", 250)
		rc.Cmd("RCPT TO:<bob@seven.example>", 250)
		rc.Cmd("DATA", 354)
		rc.Send(strings.ReplaceAll(m, "\r\n.", "\r\n..") + ".\r\n")
		rc.Expect(250)
	}
	rc.Cmd("QUIT", 221)

	for _, m := range seven.WaitMessages(t, 2) {
		orig := multi
		if strings.Contains(m.Data, "Subject: single") {
			orig = single
		}
		_, body := splitMessage(m.Data)
		check7bit(t, body)
		want, wantTypes := leaves(t, []byte(orig))
		got, gotTypes := leaves(t, []byte(m.Data))
		if len(got) != len(want) {
			t.Fatalf("%d parts at the sink, want %d:\n%s", len(got), len(want), m.Data)
		}
		for i := range want {
			if gotTypes[i] != wantTypes[i] || !bytes.Equal(got[i], want[i]) {
				t.Errorf("part %d: %s %q, want %s %q", i, gotTypes[i], got[i], wantTypes[i], want[i])
			}
		}
		if orig == multi {
			// Each replaced part keeps its type and disposition parameters;
			// the large attachment is not touched.
			for _, s := range []string{"Content-Type: text/plain; charset=utf-8; format=flowed\r\nContent-Transfer-Encoding: quoted-printable",
				"filename*=utf-8''donn%C3%A9es.bin", "Content-Type: application/zip; name=\"big.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + att.String()} {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q", s[:min(len(s), 120)])
				}
			}
		}
	}
}
