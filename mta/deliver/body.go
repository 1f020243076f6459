package deliver

import (
	"bufio"
	"bytes"
	"io"
	"sync"
)

// sendBody sends a message body after DATA: dot-stuffed (RFC 5321 section
// 4.5.2) with every bare LF written as CRLF, exactly as go-smtp's data
// writer (net/textproto's DotWriter) does, but a run of lines at a time
// instead of a byte at a time, which was the largest CPU cost of relaying a
// 100 KB message.
//
// Whole lines are stuffed here and written to wire, the connection the
// client writes to, whose own buffer is empty after the 354 reply. The
// last line (from the byte after the last LF that is not the final byte) is
// written through dot, go-smtp's writer, so that its Close ends the data
// exactly as before: ".\r\n" after a final LF, "\r\n.\r\n" otherwise. A
// line longer than the buffer sends the rest of the message through dot.
func sendBody(wire, dot io.Writer, r io.Reader) error {
	bufs := bodyBufs.Get().(*bodyBuf)
	defer bodyBufs.Put(bufs)
	buf := bufs.in[:]
	out := bufs.out
	out.Reset(wire)
	defer out.Reset(nil)
	carry, slow := 0, false
	for {
		n, rerr := r.Read(buf[carry:])
		m := carry + n
		carry = 0
		if m > 0 && !slow {
			data := buf[:m]
			end := data
			if end[len(end)-1] == '\n' {
				end = end[:len(end)-1]
			}
			if k := bytes.LastIndexByte(end, '\n'); k >= 0 {
				if err := stuffLines(out, data[:k+1]); err != nil {
					return err
				}
				carry = copy(buf, data[k+1:])
			} else if m < len(buf) {
				carry = m
			} else {
				slow = true
			}
		}
		if slow && m > 0 {
			if err := out.Flush(); err != nil {
				return err
			}
			if _, err := dot.Write(buf[:m]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if carry > 0 {
		_, err := dot.Write(buf[:carry])
		return err
	}
	return nil
}

type bodyBuf struct {
	in  [32 << 10]byte
	out *bufio.Writer
}

var bodyBufs = sync.Pool{New: func() any { return &bodyBuf{out: bufio.NewWriterSize(nil, 32<<10)} }}

// stuffLines writes b, which starts at the beginning of a line and ends
// with LF, dot-stuffed, as textproto's DotWriter would from the state
// "beginning of a line".
func stuffLines(out *bufio.Writer, b []byte) error {
	const (
		lineStart = iota
		data
		cr
	)
	st := lineStart
	for len(b) > 0 {
		switch st {
		case lineStart:
			if b[0] == '.' {
				out.WriteByte('.')
			}
			st = data
		case cr:
			// As DotWriter: after a CR, any byte is written as is, and
			// only LF begins a line.
			out.WriteByte(b[0])
			if b[0] == '\n' {
				st = lineStart
			} else {
				st = data
			}
			b = b[1:]
		case data:
			// The longest run of plain bytes and CRLFs not followed by a dot.
			run := 0
			for {
				i := indexCRorLF(b[run:])
				if i < 0 {
					run = len(b)
					break
				}
				j := run + i
				if b[j] == '\r' && j+2 < len(b) && b[j+1] == '\n' && b[j+2] != '.' {
					run = j + 2
					continue
				}
				run = j
				break
			}
			out.Write(b[:run])
			b = b[run:]
			if len(b) == 0 {
				break
			}
			switch b[0] {
			case '\r':
				out.WriteByte('\r')
				st = cr
			case '\n':
				out.WriteString("\r\n")
				st = lineStart
			}
			b = b[1:]
		}
	}
	_, err := out.Write(nil) // reports a write error bufio kept
	return err
}

// indexCRorLF returns the index of the first CR or LF in b, or -1.
func indexCRorLF(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}
