package plugin

import "bytes"

// qpLineMax is the longest encoded line, soft line break included
// (RFC 2045 section 6.7, rule 5).
const qpLineMax = 76

// encodeQP encodes text as quoted-printable (RFC 2045 section 6.7) as
// mime/quotedprintable does in text mode: CRLF, a bare LF and a bare CR
// each become a CRLF hard line break; a space or tab before a line break or
// at the end is encoded; lines are at most 76 characters.
//
// It also encodes a '-' that would begin a line as "=2D". A part
// replacement is spliced into a multipart body, and RFC 2046 section 5.1.1
// ends a part at any line that is "--" + boundary (possibly followed by
// whitespace or "--"): mime/quotedprintable leaves "--outer" as is, so a
// filter's replacement text could close the enclosing multipart and inject
// parts of its own. With no encoded line starting with "-", no line can be
// the delimiter of any enclosing multipart, whatever its boundary. The
// decoded content is unchanged: "=2D" decodes to "-".
func encodeQP(src []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(src) + len(src)/8)
	n := 0 // characters on the current output line
	put := func(lit byte, encode bool) {
		w := 1
		if encode || (n == 0 && lit == '-') {
			w = 3
		}
		if n+w > qpLineMax-1 { // leave room for the soft break's '='
			out.WriteString("=\r\n")
			n = 0
			if lit == '-' {
				w = 3
			}
		}
		if w == 3 {
			out.WriteByte('=')
			out.WriteByte(upperHex[lit>>4])
			out.WriteByte(upperHex[lit&0x0f])
		} else {
			out.WriteByte(lit)
		}
		n += w
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\r' || c == '\n':
			if c == '\r' && i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			out.WriteString("\r\n")
			n = 0
		case c == ' ' || c == '\t':
			end := i+1 == len(src) || src[i+1] == '\r' || src[i+1] == '\n'
			put(c, end)
		case c >= '!' && c <= '~' && c != '=':
			put(c, false)
		default:
			put(c, true)
		}
	}
	return out.Bytes()
}

const upperHex = "0123456789ABCDEF"
