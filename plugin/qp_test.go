package plugin

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// TestEncodeQP: the encoding decodes back to the content (line breaks as
// CRLF), keeps lines within 76 characters, and starts no line with '-'.
func TestEncodeQP(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "hello", "hello"},
		{"utf-8", "café", "caf=C3=A9"},
		{"equals", "a=b", "a=3Db"},
		{"trailing space", "a \r\nb\t", "a=20\r\nb=09"},
		{"inner space", "a b", "a b"},
		{"bare LF and CR", "a\nb\rc", "a\r\nb\r\nc"},
		{"boundary line", "--outer\r\n", "=2D-outer\r\n"},
		{"close delimiter", "x\r\n--outer--", "x\r\n=2D-outer--"},
		{"one dash", "-x", "=2Dx"},
		{"dash inside", "a--b", "a--b"},
		{"NUL and DEL", "\x00\x7f", "=00=7F"},
	}
	for _, tt := range tests {
		if got := string(encodeQP([]byte(tt.in))); got != tt.want {
			t.Errorf("%s: encodeQP(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
	// Soft line breaks: a '-' after one is encoded too, whatever the
	// column the dash lands on.
	for pad := 60; pad <= 80; pad++ {
		for _, in := range []string{
			strings.Repeat("a", pad) + "--outer\r\nz",
			strings.Repeat("é", pad/2) + "--outer",
			strings.Repeat(" ", pad) + "--outer",
			strings.Repeat("-", pad*3),
		} {
			enc := encodeQP([]byte(in))
			for _, line := range strings.Split(string(enc), "\r\n") {
				if len(line) > qpLineMax {
					t.Errorf("%q: line of %d characters: %q", in, len(line), line)
				}
				if strings.HasPrefix(line, "-") {
					t.Errorf("%q: line starts with '-': %q", in, line)
				}
			}
			dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(enc)))
			if err != nil || string(dec) != in {
				t.Errorf("%q: decodes to %q, %v", in, dec, err)
			}
		}
	}
}

// TestReplacePartCannotInjectParts: a text replacement whose lines are the
// delimiters of the enclosing multiparts ("--inner", "--outer--", also
// right after a soft line break) stays inside its part: parsed back with
// go-message, the message has exactly the parts it had, and the replaced
// one holds the text.
func TestReplacePartCannotInjectParts(t *testing.T) {
	hostile := "before\r\n" +
		"--inner\r\n" +
		"Content-Type: text/html\r\n\r\n<p>injected</p>\r\n" +
		"--inner--\r\n" +
		"--outer \r\n" +
		"Content-Type: application/x-evil\r\n\r\nevil\r\n" +
		"--outer--\r\n" +
		strings.Repeat("x", 75) + "--outer\r\n" +
		strings.Repeat("y", 74) + "--inner--\r\n" +
		"-- \r\nsignature"
	tests := []struct {
		path, contentType string
	}{
		{"1.1", "text/plain; charset=utf-8"},
		{"1.2", "text/html"},
		{"2", "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			ch := &Changes{Parts: []PartReplacement{{Path: tt.path, ContentType: tt.contentType, Content: []byte(hostile)}}}
			var out bytes.Buffer
			if err := Apply(ch, strings.NewReader(multipartMsg), &out); err != nil {
				t.Fatal(err)
			}
			want := mimeTree(t, []byte(multipartMsg))
			for i := range want {
				if want[i].path == tt.path {
					want[i].body = hostile
				}
			}
			got := mimeTree(t, out.Bytes())
			if len(got) != len(want) {
				t.Fatalf("%d parts after the replacement, want %d:\n%s", len(got), len(want), out.String())
			}
			for i := range want {
				if got[i].path != want[i].path || got[i].body != want[i].body {
					t.Errorf("part %d: %s %q, want %s %q", i, got[i].path, got[i].body, want[i].path, want[i].body)
				}
			}
		})
	}
}

type treePart struct{ path, body string }

// mimeTree lists a message's leaf parts, numbered like scanParts, with
// their decoded bodies, as go-message parses them.
func mimeTree(t *testing.T, msg []byte) []treePart {
	t.Helper()
	e, err := message.Read(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	var out []treePart
	var walk func(e *message.Entity, prefix string)
	walk = func(e *message.Entity, prefix string) {
		mr := e.MultipartReader()
		if mr == nil {
			b, err := io.ReadAll(e.Body)
			if err != nil {
				t.Fatalf("part %s: %v", prefix, err)
			}
			out = append(out, treePart{strings.TrimSuffix(prefix, "."), string(b)})
			return
		}
		for i := 1; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("part %s%d: %v", prefix, i, err)
			}
			walk(p, prefix+itoa(i)+".")
		}
	}
	walk(e, "")
	return out
}
