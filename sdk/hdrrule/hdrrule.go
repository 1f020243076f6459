// Package hdrrule is the rule a header field's value must follow in a
// filter's changes: the host refuses a result that breaks it
// (plugin/changes.go), and the built-in filters check their own fields
// against it first (plugins/internal/hdrtext), so that they leave out one
// field rather than lose their whole result. It builds for wasip1 too.
package hdrrule

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxValue is the longest value the host takes.
	MaxValue = 16 << 10
	// MaxLine is the longest header line, without its CRLF (RFC 5322
	// section 2.1.1), counting "Name: " on the first line.
	MaxLine = 998
)

// Check allows CR only in CRLF followed by space or tab
// (folding), no other control characters, and no continuation line of
// whitespace only: some parsers end the header at such a line, so whatever
// follows would become body to them and header to others. 8-bit text is
// allowed only in a message sent with SMTPUTF8 (smtputf8; RFC 6532), as valid
// UTF-8 without the characters that break lines or control terminals (C1
// controls such as U+0085 NEL, U+2028, U+2029); elsewhere a header is
// US-ASCII (RFC 5322 section 2.2), and non-ASCII text must be an RFC 2047
// encoded word.
func Check(name, v string, smtputf8 bool) error {
	if len(v) > MaxValue {
		return fmt.Errorf("header %s: value longer than %d bytes", name, MaxValue)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("header %s: value is not valid UTF-8", name)
	}
	line := len(name) + 2
	blank := false // the current line is a continuation line of whitespace so far
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\r':
			if i+2 >= len(v) || v[i+1] != '\n' || (v[i+2] != ' ' && v[i+2] != '\t') {
				return fmt.Errorf("header %s: CR or LF not part of folding (CRLF followed by whitespace)", name)
			}
			if blank {
				return fmt.Errorf("header %s: folded line of whitespace only", name)
			}
			i++
			line, blank = 0, true
			continue
		case c == '\n':
			return fmt.Errorf("header %s: bare LF in value", name)
		case c < 32 && c != '\t', c == 127:
			return fmt.Errorf("header %s: control character %q in value", name, c)
		case c >= 0x80:
			if !smtputf8 {
				return fmt.Errorf("header %s: 8-bit byte %#x in a message without SMTPUTF8 (use an RFC 2047 encoded word)", name, c)
			}
			r, size := utf8.DecodeRuneInString(v[i:])
			if Forbidden(r) {
				return fmt.Errorf("header %s: control or line-breaking character %U in value", name, r)
			}
			i += size - 1
			line += size - 1
		}
		if c != ' ' && c != '\t' {
			blank = false
		}
		line++
		if line > MaxLine {
			return fmt.Errorf("header %s: line longer than %d bytes; fold it", name, MaxLine)
		}
	}
	if blank {
		return fmt.Errorf("header %s: folded line of whitespace only", name)
	}
	return nil
}

// Forbidden reports characters no header text may hold, raw or encoded:
// controls (C0 but tab, DEL, C1 such as U+0085 NEL) and U+2028, U+2029,
// which break lines or drive terminals in the programs that show them.
func Forbidden(r rune) bool {
	return r != '\t' && unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp)
}
