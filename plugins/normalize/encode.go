package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime/quotedprintable"
	"strings"
)

// Transfer encodings (RFC 2045 section 6), lower-case.
const (
	cte7bit   = "7bit"
	cte8bit   = "8bit"
	cteBinary = "binary"
	cteQP     = "quoted-printable"
	cteBase64 = "base64"
)

// identity reports whether a Content-Transfer-Encoding leaves the bytes as
// they are ("" is the default, 7bit).
func identity(cte string) bool {
	return cte == "" || cte == cte7bit || cte == cte8bit || cte == cteBinary
}

// needs7bit reports whether content cannot travel as 7bit data (RFC 2045
// section 2.7): a byte above 127, a NUL, a CR or LF outside CRLF, or a
// line longer than 998 bytes.
func needs7bit(b []byte) bool {
	line := 0
	for i, c := range b {
		switch {
		case c >= 0x80 || c == 0:
			return true
		case c == '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return true
			}
		case c == '\n':
			if i == 0 || b[i-1] != '\r' {
				return true
			}
			line = 0
			continue
		}
		line++
		if line > 998 {
			return true
		}
	}
	return false
}

// chooseEncoding picks the transfer encoding for content of media type mt
// that cannot stay 7bit: quoted-printable for mostly-ASCII text (at most
// one byte in six to escape, no NUL), where it stays readable and is
// smaller than base64, and base64 for everything else.
func chooseEncoding(mt string, b []byte) string {
	if !strings.HasPrefix(mt, "text/") {
		return cteBase64
	}
	escaped := 0
	for _, c := range b {
		if c == 0 {
			return cteBase64
		}
		if c >= 0x80 {
			escaped++
		}
	}
	if escaped*6 > len(b) {
		return cteBase64
	}
	return cteQP
}

// encodeContent writes b in the transfer encoding cte (quoted-printable or
// base64), with lines of at most 76 characters and no final line break:
// the CRLF that follows belongs to the next boundary delimiter.
func encodeContent(dst *bytes.Buffer, cte string, b []byte) {
	if cte == cteBase64 {
		encodeBase64(dst, b)
		return
	}
	encodeQP(dst, b)
}

func encodeBase64(dst *bytes.Buffer, b []byte) {
	dst.Grow(base64.StdEncoding.EncodedLen(len(b)) * 78 / 76)
	var line [76]byte
	for i := 0; i < len(b); i += 57 { // 57 bytes make one 76-character line
		if i > 0 {
			dst.WriteString("\r\n")
		}
		chunk := b[i:min(i+57, len(b))]
		base64.StdEncoding.Encode(line[:], chunk)
		dst.Write(line[:base64.StdEncoding.EncodedLen(len(chunk))])
	}
}

const hexUpper = "0123456789ABCDEF"

// encodeQP is quoted-printable (RFC 2045 section 6.7) that decodes to
// exactly b: CRLF is a hard line break, every other control byte
// (a lone CR or LF included) is escaped, so is whitespace at the end of a
// line; lines are broken softly before 76 characters. A '-' starting a
// line and the "From " of mbox files are escaped too, so no encoded line
// can look like a MIME boundary delimiter or be mangled by an mbox store.
func encodeQP(dst *bytes.Buffer, b []byte) {
	dst.Grow(len(b) + len(b)/8)
	col := 0
	var tok [3]byte
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			dst.WriteString("\r\n")
			col = 0
			i++
			continue
		}
		for {
			n := 1
			tok[0] = c
			escape := false
			switch {
			case c == ' ' || c == '\t':
				// Decoders drop whitespace at the end of a line.
				escape = i+1 == len(b) || (b[i+1] == '\r' && i+2 < len(b) && b[i+2] == '\n')
			case c == '=' || c < 32 || c > 126:
				escape = true
			case col == 0 && (c == '-' || c == '.'):
				escape = true
			case col == 0 && c == 'F' && bytes.HasPrefix(b[i:], []byte("From ")):
				escape = true
			}
			if escape {
				tok = [3]byte{'=', hexUpper[c>>4], hexUpper[c&15]}
				n = 3
			}
			if col+n > 75 {
				dst.WriteString("=\r\n")
				col = 0
				continue // re-decide: the byte now starts a line
			}
			dst.Write(tok[:n])
			col += n
			break
		}
	}
}

var errBadEncoding = errors.New("content does not decode")

// decodeContent undoes a transfer encoding; identity encodings return b.
func decodeContent(cte string, b []byte) ([]byte, error) {
	switch {
	case identity(cte):
		return b, nil
	case cte == cteBase64:
		clean := make([]byte, 0, len(b))
		for _, c := range b {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				clean = append(clean, c)
			}
		}
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			return nil, errBadEncoding
		}
		return out[:n], nil
	case cte == cteQP:
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		if err != nil {
			return nil, errBadEncoding
		}
		return out, nil
	}
	return nil, errBadEncoding
}
