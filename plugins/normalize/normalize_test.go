package main

import (
	"bytes"
	crand "crypto/rand"
	"io"
	"math/rand"
	"mime"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	gomessage "github.com/emersion/go-message"

	"github.com/sluice-mail/sluice/plugins/internal/hdrtext"
	"github.com/sluice-mail/sluice/sdk"
	"github.com/sluice-mail/sluice/sdk/abi"
	"github.com/sluice-mail/sluice/sdk/hdrrule"
)

// leaves decodes a message with go-message and returns its leaf parts'
// transfer-decoded bodies in order, with their Content-Type values.
func leaves(t testing.TB, msg []byte) (bodies [][]byte, types []string) {
	t.Helper()
	e, err := gomessage.Read(bytes.NewReader(msg))
	if err != nil && !gomessage.IsUnknownCharset(err) {
		t.Fatalf("go-message cannot read:\n%s\n%v", msg, err)
	}
	var walk func(e *gomessage.Entity)
	walk = func(e *gomessage.Entity) {
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					return
				}
				if err != nil && !gomessage.IsUnknownCharset(err) {
					t.Fatalf("next part: %v\n%s", err, msg)
				}
				walk(p)
			}
		}
		mt, _, _ := e.Header.ContentType()
		if mt == "message/rfc822" {
			inner, err := gomessage.Read(e.Body)
			if err != nil && !gomessage.IsUnknownCharset(err) {
				t.Fatalf("inner message: %v", err)
			}
			walk(inner)
			return
		}
		b, err := io.ReadAll(e.Body)
		if err != nil {
			t.Fatalf("decoding a %s part: %v\n%s", mt, err, msg)
		}
		bodies = append(bodies, b)
		types = append(types, mt)
	}
	walk(e)
	return bodies, types
}

// splitMessage splits at the header's blank line.
func splitMessage(msg string) (hdr, body string) {
	i := strings.Index(msg, "\r\n\r\n")
	return msg[:i+2], msg[i+4:]
}

func headerValue(hdr, name string) string {
	for _, l := range strings.Split(hdr, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// rewriteMessage runs rewriteBody on a whole message and reassembles it
// as the host would (the root CTE replaced in the header).
func rewriteMessage(t testing.TB, msg string, pol bodyPolicy) (string, *bodyResult) {
	t.Helper()
	hdr, body := splitMessage(msg)
	res, err := rewriteBody(strings.NewReader(body), headerValue(hdr, "Content-Type"), headerValue(hdr, "Content-Transfer-Encoding"), pol, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	if res.RootCTE != "" {
		var lines []string
		for _, l := range strings.Split(strings.TrimSuffix(hdr, "\r\n"), "\r\n") {
			if !strings.HasPrefix(strings.ToLower(l), "content-transfer-encoding:") {
				lines = append(lines, l)
			}
		}
		hdr = strings.Join(append(lines, "Content-Transfer-Encoding: "+res.RootCTE), "\r\n") + "\r\n"
	}
	return hdr + "\r\n" + string(res.Body), res
}

// check7bit fails unless every byte is 7-bit, no NUL, no bare CR or LF,
// no line over 998 bytes (RFC 5322 2.1.1, RFC 2045 2.7).
func check7bit(t testing.TB, msg string) {
	t.Helper()
	if needs7bit([]byte(msg)) {
		t.Errorf("output is not 7-bit clean:\n%q", msg)
	}
}

const multi8bit = "From: a@example.org\r\nTo: b@example.com\r\nSubject: test\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n" +
	"preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
	"Grüße aus Köln,\r\nmostly ASCII text with a few umlauts.\r\n-- \r\nFrom here on\r\n" +
	"--XX\r\nContent-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
	"\xf0\xd2\xc9\xd7\xc5\xd4 \xcd\xc9\xd2\r\n" +
	"--XX\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"résumé.bin\"\r\nContent-ID: <blob@x>\r\n\r\n" +
	"\x00\x01\x02\xff\xfe binary\r\n" +
	"--XX\r\nContent-Type: message/rfc822\r\n\r\n" +
	"Subject: inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nD\xe9j\xe0 vu\r\n" +
	"--XX\r\nContent-Type: text/plain\r\n\r\nplain ascii stays\r\n" +
	"--XX--\r\nepilogue\r\n"

func TestEncode8bitMultipart(t *testing.T) {
	out, res := rewriteMessage(t, multi8bit, bodyPolicy{encode8bit: true})
	if !res.Changed || res.RootCTE != "" {
		t.Fatalf("changed %v, root cte %q", res.Changed, res.RootCTE)
	}
	check7bit(t, out)
	want, _ := leaves(t, []byte(multi8bit))
	got, _ := leaves(t, []byte(out))
	if len(got) != len(want) {
		t.Fatalf("%d leaves, want %d\n%s", len(got), len(want), out)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("leaf %d decodes to %q, want %q", i, got[i], want[i])
		}
	}
	for _, s := range []string{
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe",
		"=2D-=20\r\n=46rom here on\r\n--XX", // no line can pass for a delimiter or an mbox From
		"charset=koi8-r\r\nContent-Transfer-Encoding: base64\r\n",
		"filename*=utf-8''r%C3%A9sum%C3%A9.bin", // RFC 2231
		"Content-ID: <blob@x>\r\n",              // other part fields kept
		"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n",
		"--XX\r\nContent-Type: text/plain\r\n\r\nplain ascii stays\r\n--XX--\r\nepilogue\r\n",
		"preamble\r\n--XX\r\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

func TestEncode8bitSinglePart(t *testing.T) {
	msg := "From: a@example.org\r\nSubject: x\r\n\r\nna\xefve caf\xe9 line one\r\nline two\r\n"
	out, res := rewriteMessage(t, msg, bodyPolicy{encode8bit: true})
	if res.RootCTE != cteQP {
		t.Fatalf("root cte %q, want quoted-printable", res.RootCTE)
	}
	check7bit(t, out)
	_, body := splitMessage(out)
	dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if err != nil || string(dec) != "na\xefve caf\xe9 line one\r\nline two\r\n" {
		t.Errorf("decodes to %q (%v)", dec, err)
	}
	// Mostly non-ASCII text goes base64.
	msg = "Content-Type: text/plain; charset=utf-8\r\n\r\nПривет, мир! Как дела?\r\n"
	out, res = rewriteMessage(t, msg, bodyPolicy{encode8bit: true})
	if res.RootCTE != cteBase64 {
		t.Errorf("cyrillic text: cte %q, want base64", res.RootCTE)
	}
	if got, _ := leaves(t, []byte(out)); string(got[0]) != "Привет, мир! Как дела?\r\n" {
		t.Errorf("decodes to %q", got[0])
	}
}

// TestClean7bitUntouched: nothing to do means no change at all.
func TestClean7bitUntouched(t *testing.T) {
	for _, msg := range []string{
		"Subject: x\r\n\r\nhello\r\n",
		"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b--\r\n",
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n",
	} {
		hdr, body := splitMessage(msg)
		res, err := rewriteBody(strings.NewReader(body), headerValue(hdr, "Content-Type"), headerValue(hdr, "Content-Transfer-Encoding"),
			bodyPolicy{encode8bit: true, html: &htmlPolicy{scripts: true, remoteImages: true}}, 1<<20)
		if err != nil || res.Changed {
			t.Errorf("clean message changed (%v): %q", err, res.Body)
		}
		if string(res.Body) != body {
			t.Errorf("body not copied byte for byte:\n%q\n%q", res.Body, body)
		}
	}
}

func TestLongLineForcesEncoding(t *testing.T) {
	long := strings.Repeat("a", 1200)
	msg := "Content-Type: text/plain\r\n\r\n" + long + "\r\n"
	out, res := rewriteMessage(t, msg, bodyPolicy{encode8bit: true})
	if res.RootCTE != cteQP {
		t.Fatalf("cte %q", res.RootCTE)
	}
	check7bit(t, out)
	if got, _ := leaves(t, []byte(out)); string(got[0]) != long+"\r\n" {
		t.Errorf("long line does not round-trip")
	}
}

func TestBodyTooLarge(t *testing.T) {
	msg := strings.Repeat("\xe9", 4000)
	_, err := rewriteBody(strings.NewReader(msg), "", "8bit", bodyPolicy{encode8bit: true}, 4096)
	if err != errTooLarge {
		t.Errorf("err %v, want errTooLarge", err)
	}
}

func TestQPRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 500; i++ {
		b := make([]byte, r.Intn(400))
		for j := range b {
			const alphabet = "ab -=\t\r\n.F\xe9\x00"
			b[j] = alphabet[r.Intn(len(alphabet))]
		}
		if r.Intn(3) == 0 {
			b = append([]byte("From "), b...)
		}
		var enc bytes.Buffer
		encodeQP(&enc, b)
		for _, l := range strings.Split(enc.String(), "\r\n") {
			if len(l) > 76 || strings.HasPrefix(l, "-") || strings.HasPrefix(l, "From ") {
				t.Fatalf("bad line %q for %q", l, b)
			}
		}
		check7bit(t, enc.String())
		dec, err := io.ReadAll(quotedprintable.NewReader(&enc))
		if err != nil || !bytes.Equal(dec, b) {
			t.Fatalf("%q: encoded %q decodes to %q (%v)", b, enc.String(), dec, err)
		}
	}
}

func TestChooseEncoding(t *testing.T) {
	for _, c := range []struct{ mt, s, want string }{
		{"text/plain", "hello wörld, this is mostly ascii", cteQP},
		{"text/plain", "ééééé", cteBase64},
		{"text/plain", "a\x00b", cteBase64},
		{"application/pdf", "%PDF ascii", cteBase64},
	} {
		if got := chooseEncoding(c.mt, []byte(c.s)); got != c.want {
			t.Errorf("%s %q: %s, want %s", c.mt, c.s, got, c.want)
		}
	}
}

func TestFold(t *testing.T) {
	subj := strings.Repeat("word ", 40) + "end"
	f, changed := foldValue("Subject", subj)
	if !changed {
		t.Fatal("not folded")
	}
	if sdk.Unfold(f) != subj {
		t.Errorf("unfolds to %q", sdk.Unfold(f))
	}
	for i, l := range strings.Split("Subject: "+f, "\r\n") {
		if len(l) > foldAt {
			t.Errorf("line %d has %d characters", i, len(l))
		}
		if i > 0 && !strings.HasPrefix(l, " ") {
			t.Errorf("continuation line %q does not start with whitespace", l)
		}
	}
	// A word too long for 78 columns gets a line of its own.
	long := "a " + strings.Repeat("x", 100) + " b"
	f, _ = foldValue("Subject", long)
	if f != "a\r\n "+strings.Repeat("x", 100)+"\r\n b" {
		t.Errorf("long word folded as %q", f)
	}
	// Short values and trailing whitespace alone are not touched.
	if _, c := foldValue("Subject", "short"); c {
		t.Error("short value folded")
	}
	if f, _ := foldValue("X", strings.Repeat("y", 90)+"   "); strings.Contains(f, "\r\n") {
		t.Errorf("folded before trailing whitespace only: %q", f)
	}
}

func TestDecodeToUTF8(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"Subject", "=?iso-8859-1?q?Caf=E9?= =?utf-8?b?w6AgbGEgY3LDqG1l?= !", "Caféà la crème !"},
		{"Subject", "=?windows-1251?b?z/Do4uXy?=", "Привет"},
		{"From", "=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jm@example.org>", "Jörg Müller <jm@example.org>"},
		{"To", "=?utf-8?q?M=C3=BCller=2C_J=C3=B6rg?= <jm@example.org>, b@example.org", "\"Müller, Jörg\" <jm@example.org>, <b@example.org>"},
	} {
		got, ok := decodeToUTF8(c.name, c.in)
		if !ok || got != c.want {
			t.Errorf("%s %q: %q %v, want %q", c.name, c.in, got, ok, c.want)
		}
	}
	for _, c := range []struct{ name, in string }{
		{"Subject", "=?utf-8?q?a=0D=0ABcc:_evil@example.org?="}, // header injection
		{"Subject", "=?x-unknown?q?abc?="},
		{"Subject", "no words"},
		{"Message-ID", "<=?utf-8?q?x?=@example.org>"},
	} {
		if got, ok := decodeToUTF8(c.name, c.in); ok {
			t.Errorf("%s %q decoded to %q", c.name, c.in, got)
		}
	}
}

func TestSevenBitField(t *testing.T) {
	got, ok := sevenBitField("Content-Description", "Photos de vacances été 2025")
	if !ok || has8bit([]byte(got)) {
		t.Fatalf("%q %v", got, ok)
	}
	d, err := new(mime.WordDecoder).DecodeHeader(fieldValue([]byte(got)))
	if err != nil || d != "Photos de vacances été 2025" {
		t.Errorf("decodes to %q (%v)", d, err)
	}
}

func testSettings(t *testing.T, js string) *settings {
	t.Helper()
	s, err := parseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fixedEnv() env {
	return env{Now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), Random: bytes.NewReader(bytes.Repeat([]byte{0xab}, 64))}
}

func hdr(fields ...string) sdk.Header {
	var h sdk.Header
	for i := 0; i+1 < len(fields); i += 2 {
		h = append(h, abi.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return h
}

func wire(t *testing.T, ch *edits) string {
	t.Helper()
	if ch == nil {
		return ""
	}
	var b strings.Builder
	for _, h := range ch.Headers {
		b.WriteString(h.Op + " " + h.Name + ": " + h.Value + "\n")
	}
	return b.String()
}

type cryptoRand struct{}

func (cryptoRand) Read(b []byte) (int, error) { return crand.Read(b) }

func TestPlanDateAndMessageID(t *testing.T) {
	s := testSettings(t, `{"hostname": "relay.example.net"}`)
	ch, _, err := s.plan(message{Header: hdr("From", "a@example.org", "Subject", "hi")}, fixedEnv())
	if err != nil {
		t.Fatal(err)
	}
	want := "add Date: Wed, 04 Mar 2026 05:06:07 +0000\nadd Message-ID: <abababababababababababababababab@relay.example.net>\n"
	if got := wire(t, ch); got != want {
		t.Errorf("changes:\n%s\nwant:\n%s", got, want)
	}
	ch, _, _ = s.plan(message{Header: hdr("Date", "x", "Message-Id", "<a@b>")}, fixedEnv())
	if ch != nil {
		t.Errorf("fields present, yet changes %s", wire(t, ch))
	}
	// A signature that covers the absent Message-ID signs its absence.
	ch, notes, _ := s.plan(message{Header: hdr("Date", "x", "DKIM-Signature", "v=1; c=relaxed/relaxed; h=from:message-id; b=x")}, fixedEnv())
	if ch != nil || !strings.Contains(strings.Join(notes, "\n"), "Message-ID not added") {
		t.Errorf("changes %s, notes %v", wire(t, ch), notes)
	}
	// Two instances never make the same id.
	a, _ := newMessageID(cryptoRand{}, "h.example")
	b, _ := newMessageID(cryptoRand{}, "h.example")
	if a == b || len(a) != len("<@h.example>")+32 {
		t.Errorf("ids %s %s", a, b)
	}
}

func TestPlanFoldAndDKIM(t *testing.T) {
	s := testSettings(t, `{"message_id": false, "date": false}`)
	long := strings.Repeat("lorem ipsum ", 12) + "end"
	ch, _, _ := s.plan(message{Header: hdr("Subject", long, "Comments", "a", "Comments", long)}, fixedEnv())
	got := wire(t, ch)
	f, _ := foldValue("Subject", long)
	fc, _ := foldValue("Comments", long)
	want := "set Subject: " + f + "\nremove Comments: \nadd Comments: " + fc + "\n"
	if got != want {
		t.Errorf("changes:\n%q\nwant:\n%q", got, want)
	}
	// Covered by a simple-canonicalization signature: left alone.
	sig := "v=1; a=rsa-sha256; c=simple/simple; h=subject:from; b=x"
	ch, notes, _ := s.plan(message{Header: hdr("DKIM-Signature", sig, "Subject", long)}, fixedEnv())
	if ch != nil || !strings.Contains(strings.Join(notes, "\n"), "covered by a DKIM-Signature") {
		t.Errorf("simple-signed Subject folded: %s %v", wire(t, ch), notes)
	}
	// Relaxed: folding does not change what was signed.
	ch, _, _ = s.plan(message{Header: hdr("DKIM-Signature", strings.Replace(sig, "simple/simple", "relaxed/simple", 1), "Subject", long)}, fixedEnv())
	if !strings.Contains(wire(t, ch), "set Subject") {
		t.Errorf("relaxed-signed Subject not folded")
	}
	// A Subject of one 1500-byte word is re-encoded into words that fold.
	word := strings.Repeat("z", 1500)
	ch, notes, _ = s.plan(message{Header: hdr("Subject", word)}, fixedEnv())
	out := wire(t, ch)
	t.Log(notes)
	v := strings.TrimSuffix(strings.TrimPrefix(out, "set Subject: "), "\n")
	d, err := new(mime.WordDecoder).DecodeHeader(sdk.Unfold(v))
	if err != nil || d != word || hdrrule.Check("Subject", v, false) != nil {
		t.Errorf("long word re-encoded as %q (%v)", v, err)
	}
}

func TestPlanUTF8NeedsSMTPUTF8(t *testing.T) {
	s := testSettings(t, `{"message_id": false, "date": false, "utf8_headers": true}`)
	h := hdr("Subject", "=?utf-8?q?Gr=C3=BC=C3=9Fe?=")
	ch, _, _ := s.plan(message{Header: h}, fixedEnv())
	if ch != nil {
		t.Errorf("decoded without SMTPUTF8: %s", wire(t, ch))
	}
	ch, _, _ = s.plan(message{Header: h, Txn: sdk.Txn{MailParams: map[string]string{"SMTPUTF8": ""}}}, fixedEnv())
	if got := wire(t, ch); got != "set Subject: Grüße\n" {
		t.Errorf("changes %q", got)
	}
}

func TestPlanBodyDKIM(t *testing.T) {
	body := "caf\xe9\r\n"
	m := message{Header: hdr("DKIM-Signature", "v=1; h=from; b=x", "Content-Type", "text/plain", "Date", "x", "Message-ID", "<a@b>"),
		BodySize: int64(len(body)), Body: func() io.Reader { return strings.NewReader(body) }}
	s := testSettings(t, `{"eight_bit": "encode", "hostname": "h.example"}`)
	ch, notes, _ := s.plan(m, fixedEnv())
	if ch != nil || !strings.Contains(strings.Join(notes, "\n"), "body not normalized") {
		t.Errorf("signed body changed: %s %v", wire(t, ch), notes)
	}
	s = testSettings(t, `{"eight_bit": "encode", "hostname": "h.example", "dkim": "normalize"}`)
	ch, _, _ = s.plan(m, fixedEnv())
	if got := wire(t, ch); got != "set Content-Transfer-Encoding: quoted-printable\nset MIME-Version: 1.0\n" {
		t.Errorf("changes %q", got)
	}
}

func TestConfig(t *testing.T) {
	for _, bad := range []string{
		`{"eight_bit": "7bit"}`,
		`{"hostname": "h", "dkim": "resign"}`,
		`{}`, // message_id without hostname
		`{"hostname": "bad host"}`,
		`{"hostname": "h", "max_size": "100MiB"}`,
		`{"hostname": "h", "unknown": 1}`,
	} {
		if _, err := parseConfig([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	s := testSettings(t, `{"hostname": "H.Example.", "max_size": "1MiB", "html": {"remote_images": false}}`)
	if s.hostname != "h.example" || s.maxSize != 1<<20 || s.html == nil || !s.html.scripts || s.html.remoteImages {
		t.Errorf("settings %+v", s)
	}
}

// TestPlanHeadersHostRule: a header normalize would change goes out only
// as the host takes it (ABI.md 3.3); otherwise it is left with a note.
func TestPlanHeadersHostRule(t *testing.T) {
	s := testSettings(t, `{"message_id": false, "date": false, "utf8_headers": true}`)
	utf8 := sdk.Txn{MailParams: map[string]string{"SMTPUTF8": ""}}
	long := strings.Repeat("Grüße aus Köln ", 8) // over 78 columns: folded
	foldedLong := strings.Repeat("Grüße aus Köln ", 3) + "Grüße aus\r\n Köln " + strings.Repeat("Grüße aus Köln ", 3) + "Grüße aus\r\n Köln "
	for _, c := range []struct {
		name, field string
		txn         sdk.Txn
		want        string // the change, "" for none
	}{
		{"raw utf-8 folded, no SMTPUTF8", long, sdk.Txn{}, ""},
		{"raw utf-8 folded, SMTPUTF8", long, utf8, "set Subject: " + foldedLong + "\n"},
		{"decoded NEL", "=?utf-8?q?a=C2=85b?=", utf8, ""},
		{"decoded LS", "=?utf-8?q?a=E2=80=A8b?=", utf8, ""},
		{"decoded", "=?utf-8?q?a=C3=A9b?=", utf8, "set Subject: aéb\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch, notes, err := s.plan(message{Header: hdr("Subject", c.field), Txn: c.txn}, fixedEnv())
			if err != nil {
				t.Fatal(err)
			}
			if got := wire(t, ch); got != c.want {
				t.Errorf("changes %q, want %q (notes %v)", got, c.want, notes)
			}
			for _, h := range chHeaders(ch) {
				if err := hdrrule.Check(h.Name, h.Value, hdrtext.SMTPUTF8(c.txn.MailParams)); err != nil {
					t.Errorf("the host would refuse it: %v", err)
				}
			}
		})
	}
}

func chHeaders(ch *edits) []headerOp {
	if ch == nil {
		return nil
	}
	return ch.Headers
}
