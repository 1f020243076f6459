package smtpd

import (
	"math/rand/v2"
	"testing"
)

// refScan is the byte-at-a-time checker that scan replaced, kept as the
// reference for TestCheckedReaderMatchesReference.
type refScan struct {
	prevCR, inHeader, lineStart bool
	headerLen, maxHeader        int64
	lineLen, maxLine            int64
	err                         error
}

func (c *refScan) scan(b []byte) {
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
		c.lineLen++
		if c.maxLine > 0 && c.lineLen > c.maxLine {
			c.err = errLineTooLong
			return
		}
		if ch == '\n' {
			c.lineLen = 0
		}
		if c.inHeader {
			if c.headerLen == 0 && (ch == ' ' || ch == '\t') {
				c.err = errLeadingFold
				return
			}
			c.headerLen++
			if ch == '\n' {
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

// TestCheckedReaderMatchesReference feeds random messages made of CRLF
// lines with bare CRs and LFs sprinkled in, cut into random chunks, to the
// slice-based scan and to the byte-at-a-time reference: both must find the
// same violation (or none) and agree on where the header ends. With a line
// limit they must agree on whether there is a violation (when a message
// has a bare CR or LF and a long line, either may be reported).
func TestCheckedReaderMatchesReference(t *testing.T) {
	for _, maxLine := range []int64{0, 12, 30} {
		testCheckedReaderMatchesReference(t, maxLine)
	}
}

func testCheckedReaderMatchesReference(t *testing.T, maxLine int64) {
	rng := rand.New(rand.NewPCG(1, uint64(maxLine)))
	pieces := []string{"Subject: x\r\n", "\r\n", "body line\r\n", ".\r\n", "a", "\r", "\n", "\r\r\n", "x\n", "long line of text here\r\n", "\tfolded\r\n"}
	for i := 0; i < 20000; i++ {
		var msg []byte
		for n := rng.IntN(30); n > 0; n-- {
			p := pieces[rng.IntN(len(pieces))]
			if rng.IntN(10) > 0 { // mostly well-formed lines
				p = pieces[rng.IntN(4)]
			}
			msg = append(msg, p...)
		}
		maxHeader := int64(rng.IntN(3) * 40)
		got := &checkedReader{maxHeader: maxHeader, maxLine: maxLine, inHeader: true, lineStart: true}
		want := &refScan{maxHeader: maxHeader, maxLine: maxLine, inHeader: true, lineStart: true}
		for rest := msg; len(rest) > 0; {
			k := 1 + rng.IntN(len(rest))
			if got.err == nil {
				got.scan(rest[:k])
			}
			if want.err == nil {
				want.scan(rest[:k])
			}
			rest = rest[k:]
		}
		gotErr, wantErr := got.final(), error(nil)
		if wantErr = want.err; wantErr == nil && want.prevCR {
			wantErr = errBareLF
		}
		if gotErr != wantErr && (maxLine == 0 || (gotErr == nil) != (wantErr == nil)) {
			t.Fatalf("%q (max header %d, max line %d): got %v, want %v", msg, maxHeader, maxLine, gotErr, wantErr)
		}
		if wantErr == nil && got.inHeader != want.inHeader {
			t.Fatalf("%q: header ended %v, want %v", msg, !got.inHeader, !want.inHeader)
		}
	}
}
