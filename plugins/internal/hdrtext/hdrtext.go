// Package hdrtext makes header field values that the relay accepts from a
// filter (sdk/ABI.md 3.3): in a message sent without SMTPUTF8 a header is
// US-ASCII (RFC 5322 section 2.2), so non-ASCII text goes as RFC 2047
// encoded-words, folded to keep lines short; in one sent with SMTPUTF8 it
// may be UTF-8 (RFC 6532), but never hold C1 controls or the Unicode line
// and paragraph separators. The built-in filters share it; it is plain Go,
// compiled into each guest.
package hdrtext

import (
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mail/sluice/sdk/hdrrule"
)

const (
	// foldAt is the column an encoded-word line stays within (RFC 2047
	// section 2: 76 characters for a line that holds encoded-words).
	foldAt = 76
)

// SMTPUTF8 reports whether a transaction's MAIL parameters carry SMTPUTF8
// (RFC 6531), keys compared without case as the host compares them.
func SMTPUTF8(mailParams map[string]string) bool {
	for k := range mailParams {
		if strings.EqualFold(k, "SMTPUTF8") {
			return true
		}
	}
	return false
}

// Clean returns text s without the characters hdrrule.Check refuses in
// any message (see hdrrule.Forbidden), CR and LF among them, so a folded value comes
// out unfolded. Bytes that are not UTF-8 are kept as they are, for the
// caller to decide on: there is no known charset to encode them from.
func Clean(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !(r != utf8.RuneError && hdrrule.Forbidden(r)) {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// ASCII reports whether s is all US-ASCII.
func ASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Text returns s, unstructured text in valid UTF-8 (RFC 5322 section
// 3.2.5: a Subject, a Comments), as it may stand in a header: unchanged
// when it is ASCII or the message is SMTPUTF8, otherwise as UTF-8
// encoded-words (RFC 2047 section 5(1)). col is the column s starts at,
// after "Name: " and any text before it; encoded-words are folded between
// them so that every line after the first stays within 76 columns and the
// first within col+75. Clean s first: the characters it drops would be
// refused raw, and are no better encoded.
func Text(s string, col int, smtputf8 bool) string {
	if smtputf8 || ASCII(s) {
		return s
	}
	return fold(shorter(mime.QEncoding.Encode("utf-8", s), mime.BEncoding.Encode("utf-8", s)), col)
}

// Phrase returns s, a display name in valid UTF-8 with a non-ASCII
// character, as encoded-words that may stand for a phrase (RFC 2047
// section 5(3)), folded like Text. The "Q" encoding leaves most
// punctuation as it is, which a phrase does not allow, so "B" is used
// when s holds any; "Q" otherwise when it is shorter.
func Phrase(s string, col int) string {
	b := mime.BEncoding.Encode("utf-8", s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x80 && c != ' ' && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!*+-/=?_", c) >= 0) {
			return fold(b, col)
		}
	}
	return fold(shorter(mime.QEncoding.Encode("utf-8", s), b), col)
}

func shorter(a, b string) string {
	if len(b) < len(a) {
		return b
	}
	return a
}

// fold breaks a run of encoded-words (as mime.WordEncoder writes them: at
// most 75 characters each, one space between) before a word that would
// end past column 76; never before the first, which continues the
// caller's line. Whitespace between encoded-words is not part of the text
// (RFC 2047 section 6.2), so folding there changes nothing decoded.
func fold(words string, col int) string {
	var b strings.Builder
	for i, w := range strings.Fields(words) {
		if i > 0 {
			if col+1+len(w) > foldAt {
				b.WriteString("\r\n")
				col = 0
			}
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}
