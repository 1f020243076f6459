package plugin

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/sdk/abi"
	"github.com/sluice-mail/sluice/sdk/hdrrule"
	"github.com/sluice-mail/sluice/sdk/mailbox"
)

const multipartMsg = "From: bob@example.org\r\n" +
	"Subject: parts\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"caf=C3=A9 plain\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html\r\n" +
	"\r\n" +
	"<p>html</p>\r\n" +
	"--inner--\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: application/octet-stream; name=\"evil.exe\"\r\n" +
	"Content-Disposition: attachment; filename=\"evil.exe\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"TVqQAAMAAAAEAAAA//8AALgAAAAA\r\n" +
	"--outer--\r\n" +
	"epilogue\r\n"

func TestScanParts(t *testing.T) {
	m := testMessage(t, multipartMsg)
	header := make([]rawField, len(m.Header))
	for i, f := range m.Header {
		header[i] = rawField{name: f.Name, raw: []byte(f.Name + ": " + f.Value + "\r\n")}
	}
	parts, err := scanParts(m.Body, header, m.BodyOffset, m.BodyOffset+m.BodySize)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ path, ct, body, file string }{
		{"1", "multipart/alternative", "", ""},
		{"1.1", "text/plain", "caf=C3=A9 plain", ""},
		{"1.2", "text/html", "<p>html</p>", ""},
		{"2", "application/octet-stream", "TVqQAAMAAAAEAAAA//8AALgAAAAA", "evil.exe"},
	}
	if len(parts) != len(want) {
		t.Fatalf("got %d parts: %+v", len(parts), parts)
	}
	for i, w := range want {
		p := parts[i]
		body := multipartMsg[p.bodyStart:p.end]
		if p.Path != w.path || p.ContentType != w.ct || p.Filename != w.file || (w.body != "" && body != w.body) {
			t.Errorf("part %d = %s %s %q %q, want %+v", i, p.Path, p.ContentType, body, p.Filename, w)
		}
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name     string
		msg      string
		ch       *Changes
		want     string // whole output, or
		contains []string
		absent   []string
	}{
		{name: "nil is byte-exact", msg: "A: 1\nB:  2 \r\n\r\nbody\nno final newline", ch: nil,
			want: "A: 1\nB:  2 \r\n\r\nbody\nno final newline"},
		{name: "envelope-only is byte-exact", msg: simpleMsg, ch: &Changes{AddRecipients: []Recipient{{Addr: "x@y.z"}}}, want: simpleMsg},
		{name: "add appends, untouched fields keep their bytes", msg: "A:  1\r\nB: 2\r\n\tfolded\r\n\r\nbody\r\n",
			ch:   &Changes{Headers: []HeaderChange{{Op: HeaderAdd, Name: "X-Tag", Value: "yes"}}},
			want: "A:  1\r\nB: 2\r\n\tfolded\r\nX-Tag: yes\r\n\r\nbody\r\n"},
		{name: "set replaces all in place", msg: "S: 1\r\nA: a\r\ns: 2\r\n\r\nb\r\n",
			ch:   &Changes{Headers: []HeaderChange{{Op: HeaderSet, Name: "S", Value: "new"}}},
			want: "S: new\r\nA: a\r\n\r\nb\r\n"},
		{name: "set appends when absent", msg: "A: a\r\n\r\nb\r\n",
			ch:   &Changes{Headers: []HeaderChange{{Op: HeaderSet, Name: "S", Value: "v"}}},
			want: "A: a\r\nS: v\r\n\r\nb\r\n"},
		{name: "remove", msg: "A: a\r\nX: 1\r\nx: 2\r\n\r\nb\r\n",
			ch:   &Changes{Headers: []HeaderChange{{Op: HeaderRemove, Name: "X"}}},
			want: "A: a\r\n\r\nb\r\n"},
		{name: "prepend goes above everything", msg: "Received: r\r\nA: a\r\n\r\nb\r\n",
			ch: &Changes{Headers: []HeaderChange{{Op: HeaderPrepend, Name: "DKIM-Signature", Value: "v=1"},
				{Op: HeaderPrepend, Name: "Authentication-Results", Value: "relay.test; none"}}},
			want: "Authentication-Results: relay.test; none\r\nDKIM-Signature: v=1\r\nReceived: r\r\nA: a\r\n\r\nb\r\n"},
		{name: "remove by index counts the original fields only", msg: "X: 1\r\nA: a\r\nx: 2\r\nX: 3\r\n\r\nb\r\n",
			ch: &Changes{Headers: []HeaderChange{{Op: HeaderPrepend, Name: "X", Value: "new"},
				{Op: HeaderRemove, Name: "X", Index: 2}, {Op: HeaderRemove, Name: "X", Index: 2}, {Op: HeaderRemove, Name: "X", Index: 9}}},
			want: "X: new\r\nX: 1\r\nA: a\r\nX: 3\r\n\r\nb\r\n"},
		{name: "body replaced with CRLF", msg: "A: a\r\n\r\nold\r\n",
			ch:   &Changes{ReplaceBody: true, Body: []byte("new\nlines\r\n")},
			want: "A: a\r\n\r\nnew\r\nlines\r\n"},
		// A bare CR is a line end to some receivers ("\r.\r" ends DATA there:
		// SMTP smuggling), so the relay refuses it from clients; nor does
		// it pass it on from a plugin.
		{name: "body with bare CR", msg: "A: a\r\n\r\nold\r\n",
			ch:   &Changes{ReplaceBody: true, Body: []byte("x\r.\rMAIL FROM:<a@b.c>\r\r\nend\r")},
			want: "A: a\r\n\r\nx\r\n.\r\nMAIL FROM:<a@b.c>\r\n\r\nend\r\n"},
		{name: "nested part replaced, the rest byte-exact", msg: multipartMsg,
			ch: &Changes{Parts: []PartReplacement{{Path: "2", ContentType: "text/plain; charset=utf-8", Disposition: "inline", Content: []byte("attachment removed")}}},
			contains: []string{"preamble\r\n--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n", "caf=C3=A9 plain\r\n--inner\r\n",
				"Content-Disposition: inline\r\n", "attachment removed", "\r\n--outer--\r\nepilogue\r\n"},
			absent: []string{"evil.exe", "TVqQ"}},
		{name: "inner part replaced", msg: multipartMsg,
			ch:       &Changes{Parts: []PartReplacement{{Path: "1.2", ContentType: "image/png", Content: []byte{0, 1, 2}}}},
			contains: []string{"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--inner--\r\n", "caf=C3=A9 plain", "TVqQ"},
			absent:   []string{"<p>html</p>"}},
		{name: "single-part message body replaced as part 1", msg: simpleMsg,
			ch:       &Changes{Parts: []PartReplacement{{Path: "1", ContentType: "text/plain; charset=utf-8", Content: []byte("café")}}},
			contains: []string{"Subject: hello\r\n", "MIME-Version: 1.0\r\n", "Content-Type: text/plain; charset=utf-8\r\n", "Content-Transfer-Encoding: quoted-printable\r\n", "\r\n\r\ncaf=C3=A9"},
			absent:   []string{"Hi Alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Apply(tt.ch, strings.NewReader(tt.msg), &out); err != nil {
				t.Fatal(err)
			}
			got := out.String()
			if tt.want != "" && got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			for _, s := range tt.contains {
				if !strings.Contains(got, s) {
					t.Errorf("output lacks %q:\n%s", s, got)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(got, s) {
					t.Errorf("output still has %q:\n%s", s, got)
				}
			}
		})
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		fn   func() error
		ok   bool
	}{
		{"plain name", func() error { return validHeaderName("X-Spam-Score") }, true},
		{"name with colon", func() error { return validHeaderName("X:Y") }, false},
		{"name with space", func() error { return validHeaderName("X Y") }, false},
		{"empty name", func() error { return validHeaderName("") }, false},
		{"folded value", func() error { return hdrrule.Check("X", "a\r\n\tb", false) }, true},
		{"utf-8 value", func() error { return hdrrule.Check("X", "café", true) }, true},
		{"CRLF injection", func() error { return hdrrule.Check("X", "a\r\nBcc: evil@example.com", false) }, false},
		{"bare LF", func() error { return hdrrule.Check("X", "a\nb", false) }, false},
		{"bare CR", func() error { return hdrrule.Check("X", "a\rb", false) }, false},
		{"trailing CRLF", func() error { return hdrrule.Check("X", "a\r\n", false) }, false},
		{"NUL", func() error { return hdrrule.Check("X", "a\x00", false) }, false},
		{"invalid utf-8", func() error { return hdrrule.Check("X", "\xff", true) }, false},
		{"long line", func() error { return hdrrule.Check("X", strings.Repeat("a", 1000), false) }, false},
		{"address", func() error { return mailbox.Check("a.b+c@example.com") }, true},
		{"address no domain", func() error { return mailbox.Check("a@") }, false},
		{"address no at", func() error { return mailbox.Check("postmaster") }, false},
		{"address with brackets", func() error { return mailbox.Check("<a@b.c>") }, false},
		{"address with name", func() error { return mailbox.Check("A <a@b.c>") }, false},
		{"address with CRLF", func() error { return mailbox.Check("a@b.c\r\nRCPT TO:<x@y>") }, false},
		{"reply text", func() error { return validText("Go away") }, true},
		{"reply text CRLF", func() error { return validText("a\r\n250 ok") }, false},
		{"reply text too long", func() error { return validText(strings.Repeat("a", 513)) }, false},
	}
	for _, tt := range tests {
		if err := tt.fn(); (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%t", tt.name, err, tt.ok)
		}
	}
	for _, name := range []string{"Received", "return-path", "Resent-From", "Delivered-To"} {
		if !traceHeader(name) || signatureHeader(name) {
			t.Errorf("%s is not a trace field", name)
		}
	}
	for _, name := range []string{"DKIM-Signature", "arc-seal", "ARC-Message-Signature", "ARC-Authentication-Results"} {
		if traceHeader(name) || !signatureHeader(name) {
			t.Errorf("%s is not a signature field", name)
		}
	}
	if traceHeader("X-Received-Count") || traceHeader("Subject") || signatureHeader("Authentication-Results") {
		t.Error("ordinary header protected")
	}
}

// TestSignatureFieldsAddOnly: a plugin may add a signature field (at the
// top or the end) but never set or remove one; trace fields not at all;
// an index is for remove only.
func TestSignatureFieldsAddOnly(t *testing.T) {
	tests := []struct {
		h  abi.HeaderChange
		ok bool
	}{
		{abi.HeaderChange{Op: abi.HeaderPrepend, Name: "DKIM-Signature", Value: "v=1; a=ed25519-sha256"}, true},
		{abi.HeaderChange{Op: abi.HeaderAdd, Name: "ARC-Seal", Value: "i=1"}, true},
		{abi.HeaderChange{Op: abi.HeaderSet, Name: "DKIM-Signature", Value: "v=1"}, false},
		{abi.HeaderChange{Op: abi.HeaderRemove, Name: "dkim-signature"}, false},
		{abi.HeaderChange{Op: abi.HeaderRemove, Name: "ARC-Authentication-Results", Index: 1}, false},
		{abi.HeaderChange{Op: abi.HeaderPrepend, Name: "Received", Value: "from forged"}, false},
		{abi.HeaderChange{Op: abi.HeaderRemove, Name: "Authentication-Results", Index: 2}, true},
		{abi.HeaderChange{Op: abi.HeaderRemove, Name: "Authentication-Results", Index: -1}, false},
		{abi.HeaderChange{Op: abi.HeaderAdd, Name: "X-A", Value: "1", Index: 1}, false},
		{abi.HeaderChange{Op: abi.HeaderPrepend, Name: "X-A", Value: "a\r\nBcc: x@y.z"}, false},
	}
	for _, tt := range tests {
		_, err := convertChanges(&abi.Changes{Headers: []abi.HeaderChange{tt.h}}, nil, nil)
		if (err == nil) != tt.ok {
			t.Errorf("%+v: err = %v, want ok=%t", tt.h, err, tt.ok)
		}
	}
}

// TestApplyManyHeaderChanges: a result may hold hundreds of thousands of
// header changes (16 MiB of them). Applying each must not rewrite the whole
// field list: that made a hostile plugin's answer cost the host minutes of
// CPU and gigabytes of garbage outside the plugin's timeout. The bound is
// on bytes allocated, not time: linear work allocates about a kilobyte
// per change here, a copy of the list per change over 400 MB.
func TestApplyManyHeaderChanges(t *testing.T) {
	const n = 4000
	var msg strings.Builder
	for i := range n {
		fmt.Fprintf(&msg, "X-%d: v\r\n", i%10)
	}
	msg.WriteString("\r\nbody\r\n")
	ch := &Changes{}
	for i := range n {
		ch.Headers = append(ch.Headers,
			HeaderChange{Op: HeaderPrepend, Name: "P", Value: "p"},
			HeaderChange{Op: HeaderSet, Name: fmt.Sprintf("X-%d", i%10), Value: "s"},
			HeaderChange{Op: HeaderAdd, Name: "A", Value: "a"},
			HeaderChange{Op: HeaderRemove, Name: "Nope"})
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var out bytes.Buffer
	if err := Apply(ch, strings.NewReader(msg.String()), &out); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	t.Logf("%d header changes: %d KB allocated", len(ch.Headers), (after.TotalAlloc-before.TotalAlloc)>>10)
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("applying %d header changes allocated %d MB", len(ch.Headers), got>>20)
	}
	if got := strings.Count(out.String(), "P: p\r\n"); got != n {
		t.Errorf("%d prepended fields, want %d", got, n)
	}
	if got := strings.Count(out.String(), ": s\r\n"); got != 10 {
		t.Errorf("%d set fields, want 10", got)
	}
}

// applyHeaderChangesModel is the header-change semantics of ABI.md 3.3
// written the obvious way (each change rewrites the list), to check the
// real implementation against.
func applyHeaderChangesModel(fields []rawField, changes []HeaderChange) []rawField {
	for _, c := range changes {
		nf := rawField{name: c.Name, raw: []byte(c.Name + ": " + c.Value + "\r\n")}
		switch c.Op {
		case HeaderAdd:
			fields = append(fields, nf)
		case HeaderPrepend:
			fields = append([]rawField{nf}, fields...)
		case HeaderRemove:
			out := fields[:0:0]
			for _, f := range fields {
				if !strings.EqualFold(f.name, c.Name) || (c.Index != 0 && f.nth != c.Index) {
					out = append(out, f)
				}
			}
			fields = out
		case HeaderSet:
			out := fields[:0:0]
			placed := false
			for _, f := range fields {
				if !strings.EqualFold(f.name, c.Name) {
					out = append(out, f)
				} else if !placed {
					out = append(out, nf)
					placed = true
				}
			}
			if !placed {
				out = append(out, nf)
			}
			fields = out
		}
	}
	return fields
}

// FuzzHeaderChanges: any sequence of header changes gives what the model
// gives, applied in one call or split in two (as Apply does for a part
// replacement's own fields).
func FuzzHeaderChanges(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{0x10, 0x21, 0x32, 0x43, 0x05, 0x15, 0x25, 0x35, 0x47, 0x03}, uint8(3))
	f.Add([]byte{1, 1, 1}, []byte{0x01, 0x11, 0x31, 0x3d, 0x21, 0x31}, uint8(0))
	names := []string{"A", "a", "B", "C"}
	f.Fuzz(func(t *testing.T, orig, ops []byte, split uint8) {
		if len(orig) > 64 || len(ops) > 64 {
			return
		}
		var fields []rawField
		rank := map[string]int{}
		for i, b := range orig {
			n := names[int(b)%len(names)]
			rank[strings.ToLower(n)]++
			fields = append(fields, rawField{name: n, raw: []byte(fmt.Sprintf("%s: o%d\r\n", n, i)), nth: rank[strings.ToLower(n)]})
		}
		var changes []HeaderChange
		for i, b := range ops {
			c := HeaderChange{Name: names[int(b&3)], Value: fmt.Sprintf("c%d", i)}
			switch (b >> 4) & 3 {
			case 0:
				c.Op = HeaderAdd
			case 1:
				c.Op = HeaderPrepend
			case 2:
				c.Op = HeaderSet
			case 3:
				c.Op, c.Value, c.Index = HeaderRemove, "", int(b>>2&3)
			}
			changes = append(changes, c)
		}
		render := func(fs []rawField) string {
			var b strings.Builder
			for _, f := range fs {
				b.Write(f.raw)
			}
			return b.String()
		}
		want := render(applyHeaderChangesModel(append([]rawField(nil), fields...), changes))
		if got := render(applyHeaderChanges(append([]rawField(nil), fields...), changes)); got != want {
			t.Fatalf("one call:\n got %q\nwant %q", got, want)
		}
		k := int(split) % (len(changes) + 1)
		two := applyHeaderChanges(applyHeaderChanges(append([]rawField(nil), fields...), changes[:k]), changes[k:])
		if got := render(two); got != want {
			t.Fatalf("split at %d:\n got %q\nwant %q", k, got, want)
		}
	})
}
