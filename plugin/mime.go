package plugin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// Limits of the MIME scanner: a hostile message must not make the host
// allocate or recurse without bound.
const (
	maxHeaderBytes = 4 << 20
	maxPartHeader  = 64 << 10
	maxParts       = 1000
	maxDepth       = 20
)

// rawField is one header field exactly as received, line endings included.
type rawField struct {
	name string // as written, without surrounding whitespace; "" for a line without a colon
	raw  []byte
	nth  int // 1-based rank among the original fields of this name; 0 for a field a change made
}

func (f rawField) value() string {
	i := bytes.IndexByte(f.raw, ':')
	v := f.raw[i+1:]
	v = bytes.TrimRight(v, "\r\n")
	return string(bytes.TrimLeft(v, " \t"))
}

// readHeader reads header fields up to and including the blank line. It
// returns the fields and the number of bytes consumed (the body offset).
// A message without a blank line is all header.
func readHeader(r *bufio.Reader, limit int64) ([]rawField, int64, error) {
	var fields []rawField
	var n int64
	for {
		line, err := r.ReadBytes('\n')
		n += int64(len(line))
		if n > limit {
			return nil, 0, fmt.Errorf("header larger than %d bytes", limit)
		}
		if len(line) > 0 {
			switch {
			case bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n")):
				return fields, n, nil
			case (line[0] == ' ' || line[0] == '\t') && len(fields) > 0:
				last := &fields[len(fields)-1]
				last.raw = append(last.raw, line...)
			default:
				f := rawField{raw: line}
				if i := bytes.IndexByte(line, ':'); i > 0 {
					f.name = strings.TrimRight(string(line[:i]), " \t")
				}
				fields = append(fields, f)
			}
		}
		if err == io.EOF {
			return fields, n, nil
		}
		if err != nil {
			return nil, 0, err
		}
	}
}

func getField(fields []rawField, name string) string {
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			return unfold(f.value())
		}
	}
	return ""
}

func unfold(v string) string {
	v = strings.ReplaceAll(v, "\r\n", "")
	return strings.ReplaceAll(v, "\n", "")
}

// ReadMessage reads the header of a message stored in ra (size bytes) and
// returns a Message whose body stays in ra.
func ReadMessage(ra io.ReaderAt, size int64) (*Message, error) {
	fields, off, err := readHeader(bufio.NewReader(io.NewSectionReader(ra, 0, size)), maxHeaderBytes)
	if err != nil {
		return nil, err
	}
	m := &Message{Size: size, Body: ra, BodyOffset: off, BodySize: size - off}
	for _, f := range fields {
		if f.name != "" {
			m.Header = append(m.Header, HeaderField{Name: f.name, Value: f.value()})
		}
	}
	return m, nil
}

// part is one MIME entity with its byte ranges in the message.
type part struct {
	abi.Part
	hdrStart  int64 // where its header starts (0 for the message itself)
	bodyStart int64
	end       int64
	root      bool // the message's own body: its header is the message header
}

// scanParts lists the MIME entities of a message, numbered like IMAP:
// a single-part message has part "1"; a multipart message's children are
// "1", "2", ... and their children "2.1", "2.2". The top-level multipart
// container itself has no number.
func scanParts(ra io.ReaderAt, header []rawField, bodyStart, end int64) ([]part, error) {
	root := part{hdrStart: 0, bodyStart: bodyStart, end: end, root: true}
	describe(&root, header)
	if !root.Multipart {
		root.Path = "1"
		return []part{root}, nil
	}
	var out []part
	err := scanChildren(ra, header, bodyStart, end, "", 1, &out)
	return out, err
}

func describe(p *part, header []rawField) {
	ct := getField(header, "Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt, params = "text/plain", map[string]string{"charset": "us-ascii"}
	}
	p.ContentType = mt
	p.Charset = strings.ToLower(params["charset"])
	p.Encoding = strings.ToLower(strings.TrimSpace(getField(header, "Content-Transfer-Encoding")))
	if d, dp, err := mime.ParseMediaType(getField(header, "Content-Disposition")); err == nil {
		p.Disposition, p.Filename = d, dp["filename"]
	}
	if p.Filename == "" {
		p.Filename = params["name"]
	}
	p.Size = p.end - p.bodyStart
	p.Multipart = strings.HasPrefix(mt, "multipart/") && params["boundary"] != ""
}

func boundaryOf(header []rawField) string {
	_, params, _ := mime.ParseMediaType(getField(header, "Content-Type"))
	return params["boundary"]
}

var errTooManyParts = errors.New("too many MIME parts")

// scanChildren splits [start, end) on the boundary of header's
// multipart Content-Type and appends the children, depth first.
func scanChildren(ra io.ReaderAt, header []rawField, start, end int64, prefix string, depth int, out *[]part) error {
	if depth > maxDepth {
		return nil // deeper nesting is treated as opaque content
	}
	delim := []byte("--" + boundaryOf(header))
	type span struct{ start, end int64 }
	var spans []span
	r := bufio.NewReaderSize(io.NewSectionReader(ra, start, end-start), 4096)
	off := start
	partStart := int64(-1)
	prevEOL := int64(0) // length of the line ending before the current line
	for {
		line, n, long, err := readLine(r)
		lineStart := off
		off += n
		if !long && bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r\n")
			closing := bytes.Equal(rest, []byte("--"))
			if len(rest) == 0 || closing {
				if partStart >= 0 {
					pe := lineStart - prevEOL
					if pe < partStart {
						pe = partStart
					}
					spans = append(spans, span{partStart, pe})
				}
				partStart = off
				if closing {
					partStart = -1
					break
				}
			}
		}
		prevEOL = eolLen(line)
		if err != nil {
			break
		}
	}
	if partStart >= 0 && partStart < end { // missing close delimiter: the part runs to the end
		spans = append(spans, span{partStart, end})
	}
	for i, s := range spans {
		if len(*out) >= maxParts {
			return errTooManyParts
		}
		hdr, n, err := readHeader(bufio.NewReader(io.NewSectionReader(ra, s.start, s.end-s.start)), maxPartHeader)
		if err != nil {
			return err
		}
		p := part{hdrStart: s.start, bodyStart: s.start + n, end: s.end}
		if p.bodyStart > p.end {
			p.bodyStart = p.end
		}
		describe(&p, hdr)
		p.Path = prefix + strconv.Itoa(i+1)
		*out = append(*out, p)
		if p.Multipart {
			if err := scanChildren(ra, hdr, p.bodyStart, p.end, p.Path+".", depth+1, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// readLine returns the next line (with its ending) and its length. For a
// line longer than the buffer, long is set and line holds only its last
// segment: it cannot be a boundary, and only its ending matters then.
func readLine(r *bufio.Reader) (line []byte, n int64, long bool, err error) {
	line, err = r.ReadSlice('\n')
	n = int64(len(line))
	for err == bufio.ErrBufferFull {
		long = true
		line, err = r.ReadSlice('\n')
		n += int64(len(line))
	}
	return line, n, long, err
}

func eolLen(line []byte) int64 {
	switch {
	case bytes.HasSuffix(line, []byte("\r\n")):
		return 2
	case bytes.HasSuffix(line, []byte("\n")):
		return 1
	}
	return 0
}
