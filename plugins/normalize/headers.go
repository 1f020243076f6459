package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/ianaindex"
)

// RFC 5322 section 2.1.1: lines SHOULD be at most 78 characters and MUST
// be at most 998.
const (
	foldAt  = 78
	maxLine = 998
)

// foldValue folds the value of field name so that every line of
// "name: value" is at most 78 characters where whitespace allows. It only
// inserts CRLF before existing whitespace (RFC 5322 section 2.2.3), so
// unfolding gives back the value exactly, and a DKIM signature with
// relaxed header canonicalization stays valid. Existing folds are kept.
// It reports whether it changed anything.
func foldValue(name, value string) (string, bool) {
	lines := strings.Split(value, "\r\n")
	changed := false
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\r\n")
		}
		start := 0 // columns taken before l on its line
		if i == 0 {
			start = len(name) + 2
		}
		if start+len(l) <= foldAt {
			b.WriteString(l)
			continue
		}
		f := foldLine(l, start)
		if f != l {
			changed = true
		}
		b.WriteString(f)
	}
	return b.String(), changed
}

// foldLine breaks one line before whitespace: greedily at the last
// whitespace that keeps the line within 78 columns, or, for a word longer
// than that, at the first whitespace after it. A break never leaves a line
// of whitespace only, nor one that ends the value with whitespace alone.
func foldLine(l string, start int) string {
	var b strings.Builder
	col := start
	seg := 0 // start of the current output line within l
	lastWS := -1
	for i := 0; i < len(l); i++ {
		c := l[i]
		if (c == ' ' || c == '\t') && i > seg && hasNonWS(l[seg:i]) && hasNonWS(l[i:]) {
			if col+(i-seg) > foldAt && lastWS > seg {
				b.WriteString(l[seg:lastWS])
				b.WriteString("\r\n")
				col = 0
				seg = lastWS
			}
			if col+(i-seg) > foldAt {
				// The word before i alone is too long: break right here.
				b.WriteString(l[seg:i])
				b.WriteString("\r\n")
				col = 0
				seg = i
				lastWS = -1
				continue
			}
			lastWS = i
		}
	}
	if col+(len(l)-seg) > foldAt && lastWS > seg {
		b.WriteString(l[seg:lastWS])
		b.WriteString("\r\n")
		seg = lastWS
	}
	b.WriteString(l[seg:])
	return b.String()
}

func hasNonWS(s string) bool {
	return strings.TrimLeft(s, " \t") != ""
}

// longestLine is the longest line of "name: value" in bytes.
func longestLine(name, value string) int {
	m := 0
	for i, l := range strings.Split(value, "\r\n") {
		n := len(l)
		if i == 0 {
			n += len(name) + 2
		}
		m = max(m, n)
	}
	return m
}

// unstructured fields hold text where encoded-words may stand anywhere
// between whitespace (RFC 2047 section 5(1)).
var unstructured = map[string]bool{"subject": true, "comments": true, "content-description": true}

// addressFields hold address lists whose display names may be encoded
// (RFC 2047 section 5(3)).
var addressFields = map[string]bool{"from": true, "to": true, "cc": true, "bcc": true, "reply-to": true, "sender": true}

// wordDecoder decodes encoded-words in any charset x/text knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	enc, err := ianaindex.MIME.Encoding(charset)
	if err != nil || enc == nil {
		return nil, fmt.Errorf("unknown charset %q", charset)
	}
	return enc.NewDecoder().Reader(r), nil
}}

// decodeToUTF8 returns the value of field name with its RFC 2047
// encoded-words decoded into UTF-8 (RFC 6532), folded; ok is false when
// there is nothing to decode, the field is not one whose words may be
// decoded, a word does not decode, or the decoded text holds control
// characters (an encoded CR LF must not become a header injection).
func decodeToUTF8(name, value string) (string, bool) {
	if !strings.Contains(value, "=?") {
		return "", false
	}
	n := strings.ToLower(name)
	var out string
	switch {
	case unstructured[n] || n == "keywords":
		d, err := wordDecoder.DecodeHeader(unfold(value))
		if err != nil {
			return "", false
		}
		out = d
	case addressFields[n]:
		v := unfold(value)
		if strings.ContainsAny(v, ":;") { // group syntax: not rebuilt
			return "", false
		}
		p := mail.AddressParser{WordDecoder: wordDecoder}
		list, err := p.ParseList(v)
		if err != nil {
			return "", false
		}
		parts := make([]string, len(list))
		for i, a := range list {
			parts[i] = formatAddress(a)
		}
		out = strings.Join(parts, ", ")
	default:
		return "", false
	}
	if !utf8.ValidString(out) || hasControl(out) {
		return "", false
	}
	f, _ := foldValue(name, out)
	return f, true
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 32 && r != '\t' || r == 127 {
			return true
		}
	}
	return false
}

// formatAddress writes a mailbox with its display name in UTF-8 (RFC 6532),
// quoted when it holds anything but atext and spaces.
func formatAddress(a *mail.Address) string {
	addr := (&mail.Address{Address: a.Address}).String() // "<local@domain>", local part quoted if needed
	if a.Name == "" {
		return addr
	}
	return quotePhrase(a.Name) + " " + addr
}

func quotePhrase(s string) string {
	plain := true
	for _, r := range s {
		if r >= 0x80 || r == ' ' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r) {
			continue
		}
		plain = false
		break
	}
	if plain && strings.TrimSpace(s) == s && !strings.Contains(s, "  ") && !strings.Contains(s, "=?") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// sevenBitField rewrites a part header field holding 8-bit bytes as 7-bit
// text, ending in CRLF: Content-Type and Content-Disposition parameters
// with RFC 2231 encoding, address fields with encoded display names, and
// anything else with RFC 2047 encoded-words around the words that need
// them. Bytes that are not UTF-8 are labelled unknown-8bit (RFC 1428).
func sevenBitField(name, value string) (string, bool) {
	n := strings.ToLower(name)
	var out string
	switch {
	case n == "content-type" || n == "content-disposition":
		mt, params, err := mime.ParseMediaType(value)
		if err != nil {
			out = encodeWords(value)
			break
		}
		out = mime.FormatMediaType(mt, params)
	case addressFields[n] && utf8.ValidString(value):
		list, err := mail.ParseAddressList(value)
		if err != nil {
			out = encodeWords(value)
			break
		}
		parts := make([]string, len(list))
		for i, a := range list {
			parts[i] = a.String() // encodes a non-ASCII name
		}
		out = strings.Join(parts, ", ")
	default:
		out = encodeWords(value)
	}
	if out == "" || has8bit([]byte(out)) {
		return "", false // e.g. a non-ASCII local part: no 7-bit form
	}
	f, _ := foldValue(name, out)
	if longestLine(name, f) > maxLine {
		return "", false
	}
	return name + ": " + f + "\r\n", true
}

// encodeWords encodes each run of words holding 8-bit bytes (with the
// spaces between them, which decoding would otherwise drop) as
// encoded-words, leaving ASCII words as they are.
func encodeWords(v string) string {
	words := strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' })
	var out []string
	for i := 0; i < len(words); {
		if !has8bit([]byte(words[i])) {
			out = append(out, words[i])
			i++
			continue
		}
		j := i
		for j < len(words) && has8bit([]byte(words[j])) {
			j++
		}
		run := strings.Join(words[i:j], " ")
		cs := "utf-8"
		if !utf8.ValidString(run) {
			cs = "unknown-8bit"
		}
		out = append(out, bEncode(cs, run))
		i = j
	}
	return strings.Join(out, " ")
}

// bEncode writes s as RFC 2047 "B" encoded-words of at most 75
// characters, separated by spaces (which decoding drops). UTF-8 is split
// only between characters; bytes that are not UTF-8 are kept as they are
// under the charset given (unknown-8bit).
func bEncode(charset, s string) string {
	per := (75 - len("=?"+charset+"?b??=")) / 4 * 3
	var b strings.Builder
	for len(s) > 0 {
		n := min(per, len(s))
		if charset == "utf-8" {
			for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
				n--
			}
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("=?" + charset + "?b?" + b64(s[:n]) + "?=")
		s = s[n:]
	}
	return b.String()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
