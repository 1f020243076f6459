package smtpd

import (
	"io"

	"github.com/emersion/go-smtp"
)

// checkedReader passes message data through while enforcing what go-smtp
// does not: CRLF-only line endings (a bare LF or CR is how SMTP smuggling
// works, so the message is refused rather than relayed), a header size
// limit, and a per-domain size limit below the server-wide one.
//
// It keeps reading after a violation so the error is reported once the
// whole DATA has been consumed, not in the middle of it.
type checkedReader struct {
	r         io.Reader
	maxHeader int64 // 0: no limit
	maxBytes  int64 // 0: no limit

	n         int64
	prevCR    bool
	inHeader  bool
	lineStart bool // at the start of a line (for the blank line ending the header)
	headerLen int64
	err       *smtp.SMTPError
}

func newCheckedReader(r io.Reader, maxHeader, maxBytes int64) *checkedReader {
	return &checkedReader{r: r, maxHeader: maxHeader, maxBytes: maxBytes, inHeader: true, lineStart: true}
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
	for _, ch := range b {
		switch {
		case ch == '\n' && !c.prevCR:
			c.err = errBareLF
			return
		case ch != '\n' && c.prevCR:
			c.err = errBareLF
			return
		}
		c.prevCR = ch == '\r'
		if c.inHeader {
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
