package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/plugin"
	"github.com/sluice-mail/sluice/sdk"
	"github.com/sluice-mail/sluice/sdk/abi"
)

// overMaxSize is a plan input whose body is above max_size, with its
// parts listed as the host lists them.
func overMaxSize(t *testing.T, msg string) message {
	t.Helper()
	m, err := plugin.ReadMessage(strings.NewReader(msg), int64(len(msg)))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := plugin.MessageParts(m)
	if err != nil {
		t.Fatal(err)
	}
	var h sdk.Header
	for _, f := range m.Header {
		h = append(h, abi.HeaderField{Name: f.Name, Value: f.Value})
	}
	body := []byte(msg[m.BodyOffset:])
	return message{Header: h, Parts: parts, BodySize: int64(len(body)),
		Body: func() io.Reader { return bytes.NewReader(body) }, BodyAt: bytes.NewReader(body)}
}

// TestPartFixesLeaveWhatTheyWouldBreak: over max_size, an 8-bit part is
// re-encoded alone only when nothing of it is lost; the others stay, each
// with a note saying why.
func TestPartFixesLeaveWhatTheyWouldBreak(t *testing.T) {
	s, err := parseConfig([]byte(`{"eight_bit": "encode", "message_id": false, "date": false, "max_size": 64}`))
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n" +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-ID: <x@example.org>\r\n\r\n<p>Grüße</p>\r\n" +
		"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xfc\xdfe\r\n" +
		"--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nGrüße\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nonly ascii\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + strings.Repeat("é", 100) + "\r\n" +
		"--b--\r\n"
	ch, notes, err := s.plan(overMaxSize(t, msg), fixedEnv())
	if err != nil || ch == nil {
		t.Fatalf("plan: %v %v", err, notes)
	}
	if len(ch.Parts) != 1 || ch.Parts[0].Path != "1" || ch.Parts[0].ContentType != "text/plain; charset=utf-8" ||
		string(ch.Parts[0].Content) != "Grüße" || ch.Body != nil {
		t.Errorf("parts %+v, body %v: want part 1 alone", ch.Parts, ch.Body != nil)
	}
	all := strings.Join(notes, "\n")
	for _, want := range []string{"part 2: 8-bit content left as it is: replacing the part alone would drop its Content-ID field",
		"part 3: 8-bit content left as it is: the host re-encodes a part only in utf-8 or us-ascii",
		"part 4: 8-bit content inside an embedded message", "part 6 of 200 bytes not checked for 8-bit content",
		"1 8-bit part(s) re-encoded one by one"} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}
	// A DKIM signature forbids the body change, as for the whole body.
	signed := overMaxSize(t, "DKIM-Signature: v=1; h=from; b=x\r\n"+msg)
	if ch, notes, _ := s.plan(signed, fixedEnv()); ch != nil || !strings.Contains(strings.Join(notes, "\n"), "carries a DKIM-Signature") {
		t.Errorf("signed message changed: %+v %v", ch, notes)
	}
}
