// Package bayes is the spam filter's message model and token classifier,
// shared by the Wasm plugin (plugins/spam) and `sluice spam train`, so
// that training and scoring see exactly the same tokens.
//
// A message is parsed into a Doc (header fields and decoded text parts)
// with bounded work on hostile input; Tokens turns a Doc into the set of
// tokens the classifier counts; Model scores a token set with Robinson's
// chi-squared combining (as SpamBayes does) and is stored in a filter's
// key-value store as sharded, sorted arrays of token hashes.
package bayes

import (
	"bytes"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mail/sluice/internal/base64lax"
)

// Field is one header field: its name and its raw (possibly folded) value.
type Field struct{ Name, Value string }

// Part is one leaf MIME part.
type Part struct {
	Type     string // media type, lower case ("text/plain")
	Charset  string // lower case, "" if none
	Encoding string // Content-Transfer-Encoding, lower case
	Filename string
	Text     string // decoded text (text/* parts only), UTF-8
	HTML     bool
}

// Doc is a parsed message.
type Doc struct {
	Header []Field
	Parts  []Part
}

// Limits on the work done per message.
const (
	maxDepth     = 10
	maxParts     = 100
	maxTextBytes = 256 << 10 // decoded text kept per message
)

// Get returns the unfolded value of the first field called name.
func (d *Doc) Get(name string) string {
	for _, f := range d.Header {
		if strings.EqualFold(f.Name, name) {
			return Unfold(f.Value)
		}
	}
	return ""
}

// Has reports whether a field called name exists.
func (d *Doc) Has(name string) bool {
	for _, f := range d.Header {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// Unfold removes header folding.
func Unfold(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	return strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
}

// SplitMessage splits a raw message (a file of the corpus, a message of an
// mbox) into header fields and body. A leading mbox "From " line is
// skipped; line ends may be LF or CRLF.
func SplitMessage(raw []byte) ([]Field, []byte) {
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		} else {
			return nil, nil
		}
	}
	var fields []Field
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		line := raw
		rest := []byte(nil)
		if i >= 0 {
			line, rest = raw[:i+1], raw[i+1:]
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			return fields, rest
		}
		if (trimmed[0] == ' ' || trimmed[0] == '\t') && len(fields) > 0 {
			f := &fields[len(fields)-1]
			f.Value += "\r\n" + string(trimmed)
		} else if c := bytes.IndexByte(trimmed, ':'); c > 0 {
			fields = append(fields, Field{Name: string(bytes.TrimSpace(trimmed[:c])), Value: string(bytes.TrimLeft(trimmed[c+1:], " \t"))})
		} else {
			// Not a header line: the header ended without a blank line.
			return fields, raw
		}
		raw = rest
	}
	return fields, nil
}

// Parse builds the Doc of a message from its header and body.
func Parse(header []Field, body []byte) *Doc {
	d := &Doc{Header: header}
	budget := maxTextBytes
	d.walk(header, body, 0, &budget)
	return d
}

func (d *Doc) walk(header []Field, body []byte, depth int, budget *int) {
	if len(d.Parts) >= maxParts {
		return
	}
	get := func(name string) string {
		for _, f := range header {
			if strings.EqualFold(f.Name, name) {
				return Unfold(f.Value)
			}
		}
		return ""
	}
	ctype := get("Content-Type")
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || ctype == "" {
		mt, params = "text/plain", map[string]string{}
		if ctype != "" {
			// A broken Content-Type: keep what precedes the first ';'.
			mt = strings.ToLower(strings.TrimSpace(strings.SplitN(ctype, ";", 2)[0]))
			if !strings.Contains(mt, "/") {
				mt = "text/plain"
			}
		}
	}
	enc := strings.ToLower(strings.TrimSpace(get("Content-Transfer-Encoding")))
	if strings.HasPrefix(mt, "multipart/") && depth < maxDepth {
		b := params["boundary"]
		if b == "" {
			return
		}
		for _, child := range splitMultipart(body, b) {
			ch, cb := SplitMessage(child)
			d.walk(ch, cb, depth+1, budget)
			if len(d.Parts) >= maxParts {
				return
			}
		}
		return
	}
	if mt == "message/rfc822" && depth < maxDepth {
		ch, cb := SplitMessage(body)
		d.walk(ch, cb, depth+1, budget)
		return
	}
	p := Part{Type: mt, Charset: strings.ToLower(params["charset"]), Encoding: enc}
	if _, dp, err := mime.ParseMediaType(get("Content-Disposition")); err == nil {
		p.Filename = dp["filename"]
	}
	if p.Filename == "" {
		p.Filename = params["name"]
	}
	if strings.HasPrefix(mt, "text/") && p.Filename == "" && *budget > 0 {
		raw := decodeTransfer(body, enc, *budget)
		p.Text = toUTF8(raw, p.Charset)
		*budget -= len(p.Text)
		p.HTML = mt == "text/html"
	}
	d.Parts = append(d.Parts, p)
}

// splitMultipart returns the bodies between the boundary lines.
func splitMultipart(body []byte, boundary string) [][]byte {
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1
	for pos := 0; pos < len(body); {
		end := bytes.IndexByte(body[pos:], '\n')
		lineEnd := len(body)
		if end >= 0 {
			lineEnd = pos + end + 1
		}
		line := bytes.TrimRight(body[pos:lineEnd], "\r\n \t")
		if bytes.HasPrefix(line, delim) {
			rest := line[len(delim):]
			if start >= 0 {
				parts = append(parts, body[start:pos])
				if len(parts) >= maxParts {
					return parts
				}
			}
			if bytes.Equal(rest, []byte("--")) {
				return parts
			}
			start = lineEnd
		}
		pos = lineEnd
	}
	if start >= 0 && start < len(body) {
		parts = append(parts, body[start:]) // no closing delimiter
	}
	return parts
}

func decodeTransfer(body []byte, enc string, limit int) []byte {
	var r io.Reader = bytes.NewReader(body)
	switch enc {
	case "base64":
		r = base64lax.NewDecoder(r)
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	out, _ := io.ReadAll(io.LimitReader(r, int64(limit)))
	return out
}

// toUTF8 converts the single-byte Western charsets to UTF-8; text in other
// charsets is kept when it is valid UTF-8, otherwise its invalid bytes are
// dropped (its tokens are then mostly the charset and markup ones).
func toUTF8(b []byte, charset string) string {
	switch charset {
	case "iso-8859-1", "latin1", "iso-8859-15", "windows-1252", "cp1252", "us-ascii", "ascii", "":
		if utf8.Valid(b) {
			return string(b)
		}
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r)
	}
	return strings.ToValidUTF8(string(b), "")
}

// MessageTokens parses a raw message and returns its tokens, capping the
// body the way the plugin does (maxBody bytes; 0 for no cap).
func MessageTokens(raw []byte, maxBody int) []uint64 {
	h, b := SplitMessage(raw)
	if maxBody > 0 && len(b) > maxBody {
		b = b[:maxBody]
	}
	return Tokens(Parse(h, b))
}

// IsMbox reports whether data looks like an mbox file (it starts with a
// "From " separator line).
func IsMbox(data []byte) bool { return bytes.HasPrefix(data, []byte("From ")) }

// SplitMbox splits an mbox into messages at "From " lines that follow a
// blank line (or start the file), undoing the ">From " quoting of mboxrd.
func SplitMbox(data []byte) [][]byte {
	var msgs [][]byte
	start := 0
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			break
		}
		next := i + j + 1
		if next < len(data) && bytes.HasPrefix(data[next:], []byte("From ")) && isBlankLine(data, i, next) {
			if next > start {
				msgs = append(msgs, unquoteFrom(data[start:next]))
			}
			start = next
		}
		i = next
	}
	if start < len(data) {
		msgs = append(msgs, unquoteFrom(data[start:]))
	}
	return msgs
}

// isBlankLine reports whether the line data[i:next] is empty.
func isBlankLine(data []byte, i, next int) bool {
	return len(bytes.TrimRight(data[i:next], "\r\n")) == 0
}

func unquoteFrom(m []byte) []byte {
	if !bytes.Contains(m, []byte("\n>From ")) {
		return m
	}
	return bytes.ReplaceAll(m, []byte("\n>From "), []byte("\nFrom "))
}
