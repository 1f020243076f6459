package smtpd

import (
	"bytes"
	"io"

	"github.com/emersion/go-smtp"
)

// checkedReader passes message data through while enforcing what go-smtp
// does not: CRLF-only line endings (a bare LF or CR is how SMTP smuggling
// works, so the message is refused rather than relayed), no NUL octets
// (see errNUL), a header size
// limit, a first line that is not a continuation (it would continue the
// relay's own Received field), a per-domain size limit below the
// server-wide one, and
// max_line_length for BDAT (go-smtp enforces it on DATA only, where a
// longer line ends the connection). go-smtp itself enforces
// max_message_size (newSMTPServer).
//
// It keeps reading after a violation so the error is reported once the
// whole DATA has been consumed, not in the middle of it.
type checkedReader struct {
	r         io.Reader
	maxHeader int64 // 0: no limit
	maxBytes  int64 // 0: no limit
	maxLine   int64 // 0: no limit; CRLF included

	n         int64
	lineLen   int64 // bytes of the current line so far
	prevCR    bool
	inHeader  bool
	lineStart bool // at the start of a line (for the blank line ending the header)
	headerLen int64
	err       *smtp.SMTPError
}

func newCheckedReader(r io.Reader, maxHeader, maxBytes, maxLine int64) *checkedReader {
	return &checkedReader{r: r, maxHeader: maxHeader, maxBytes: maxBytes, maxLine: maxLine, inHeader: true, lineStart: true}
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.err == nil {
		c.scan(p[:n])
	}
	if c.err != nil {
		// Swallow the data: it will not be kept.
		if err == nil {
			return c.discard()
		}
		return 0, err
	}
	return n, err
}

// discard drains the rest of the DATA and then reports the violation.
func (c *checkedReader) discard() (int, error) {
	io.Copy(io.Discard, c.r)
	return 0, c.err
}

func (c *checkedReader) scan(b []byte) {
	c.n += int64(len(b))
	if c.maxBytes > 0 && c.n > c.maxBytes {
		c.err = errTooLarge
		return
	}
	if bytes.IndexByte(b, 0) >= 0 {
		c.err = errNUL
		return
	}
	// The header, byte by byte: it is short, and its end and size matter.
	for c.inHeader && len(b) > 0 {
		ch := b[0]
		b = b[1:]
		if c.headerLen == 0 && (ch == ' ' || ch == '\t') {
			c.err = errLeadingFold
			return
		}
		if !c.lineEnd(ch) || !c.line(1, ch == '\n') {
			return
		}
		c.headerLen++
		if ch == '\n' {
			// A line that was just "\r\n" ends the header.
			if c.lineStart {
				c.inHeader = false
			}
			c.lineStart = true
		} else if ch != '\r' {
			c.lineStart = false
		}
		if c.maxHeader > 0 && c.headerLen > c.maxHeader {
			c.err = errHeaderTooLarge
			return
		}
	}
	if len(b) > 0 {
		c.scanBody(b)
	}
}

// lineEnd checks ch against the CRLF rule and records whether it was a CR.
func (c *checkedReader) lineEnd(ch byte) bool {
	if ch == '\n' && !c.prevCR || ch != '\n' && c.prevCR {
		c.err = errBareLF
		return false
	}
	c.prevCR = ch == '\r'
	return true
}

// line counts n more bytes of the current line, which ends with them if
// end is set, against max_line_length.
func (c *checkedReader) line(n int64, end bool) bool {
	c.lineLen += n
	if c.maxLine > 0 && c.lineLen > c.maxLine {
		c.err = errLineTooLong
		return false
	}
	if end {
		c.lineLen = 0
	}
	return true
}

// scanBody checks the CRLF rule on the body a line at a time: every CR
// must be followed by LF and every LF preceded by CR. It looks for the
// bytes with IndexByte instead of looking at each byte in turn.
func (c *checkedReader) scanBody(b []byte) {
	if c.prevCR {
		if b[0] != '\n' {
			c.err = errBareLF
			return
		}
		c.prevCR = false
		if !c.line(1, true) {
			return
		}
		b = b[1:]
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			if bytes.IndexByte(b, '\n') >= 0 {
				c.err = errBareLF
				return
			}
			c.line(int64(len(b)), false)
			return
		}
		if bytes.IndexByte(b[:i], '\n') >= 0 {
			c.err = errBareLF
			return
		}
		if i+1 == len(b) {
			c.prevCR = true
			c.line(int64(len(b)), false)
			return
		}
		if b[i+1] != '\n' {
			c.err = errBareLF
			return
		}
		if !c.line(int64(i+2), true) {
			return
		}
		b = b[i+2:]
	}
}

// final reports a violation found at the very end (a trailing bare CR).
func (c *checkedReader) final() error {
	if c.err != nil {
		return c.err
	}
	if c.prevCR {
		return errBareLF
	}
	return nil
}
