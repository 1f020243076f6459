package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"
)

// The MIME scanner below numbers parts exactly as the host does (sdk/ABI.md
// section 3.1; plugin/mime.go), and also returns each part's byte range in
// the body, which the event does not carry. It reads through an
// io.ReaderAt with a small buffer, so a large attachment never sits in
// guest memory.

const (
	maxPartHeader = 64 << 10
	maxParts      = 1000
	maxDepth      = 20
)

// span is one MIME entity's bytes in the body: its header starts at
// HdrStart, its content at BodyStart, and it ends at End (exclusive; the
// line break before the next delimiter belongs to the delimiter).
type span struct {
	Path                     string
	ContentType              string
	HdrStart, BodyStart, End int64
	Multipart                bool
}

var errTooManyParts = errors.New("too many MIME parts")

// scanSpans lists the entities of a body whose message Content-Type is ct.
// A single-part message has one span "1" covering the whole body.
func scanSpans(body io.ReaderAt, size int64, ct string) ([]span, error) {
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt = "text/plain"
	}
	if !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return []span{{Path: "1", ContentType: mt, BodyStart: 0, End: size}}, nil
	}
	var out []span
	err = scanChildren(body, params["boundary"], 0, size, "", 1, &out)
	return out, err
}

func scanChildren(ra io.ReaderAt, boundary string, start, end int64, prefix string, depth int, out *[]span) error {
	if depth > maxDepth {
		return nil
	}
	delim := []byte("--" + boundary)
	type rng struct{ start, end int64 }
	var spans []rng
	r := bufio.NewReaderSize(io.NewSectionReader(ra, start, end-start), 64<<10)
	off := start
	partStart := int64(-1)
	prevEOL := int64(0)
	for {
		line, n, long, err := readLine(r)
		lineStart := off
		off += n
		if !long && bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t\r\n")
			closing := bytes.Equal(rest, []byte("--"))
			if len(rest) == 0 || closing {
				if partStart >= 0 {
					pe := max(lineStart-prevEOL, partStart)
					spans = append(spans, rng{partStart, pe})
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
	if partStart >= 0 && partStart < end {
		spans = append(spans, rng{partStart, end})
	}
	for i, s := range spans {
		if len(*out) >= maxParts {
			return errTooManyParts
		}
		ct, n, err := partHeader(io.NewSectionReader(ra, s.start, s.end-s.start))
		if err != nil {
			return err
		}
		p := span{Path: prefix + strconv.Itoa(i+1), HdrStart: s.start, BodyStart: min(s.start+n, s.end), End: s.end}
		mt, params, err := mime.ParseMediaType(ct)
		if ct == "" || err != nil {
			mt = "text/plain"
		}
		p.ContentType = mt
		p.Multipart = strings.HasPrefix(mt, "multipart/") && params["boundary"] != ""
		*out = append(*out, p)
		if p.Multipart {
			if err := scanChildren(ra, params["boundary"], p.BodyStart, p.End, p.Path+".", depth+1, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// partHeader reads an entity header up to its blank line and returns the
// unfolded Content-Type and the header's length.
func partHeader(r io.Reader) (string, int64, error) {
	br := bufio.NewReader(r)
	var n int64
	var ct strings.Builder
	inCT := false
	for {
		line, err := br.ReadBytes('\n')
		n += int64(len(line))
		if n > maxPartHeader {
			return "", 0, errors.New("part header too large")
		}
		if len(line) > 0 {
			switch {
			case bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n")):
				return ct.String(), n, nil
			case line[0] == ' ' || line[0] == '\t':
				if inCT {
					ct.Write(bytes.TrimRight(line, "\r\n"))
				}
			default:
				inCT = false
				if name, val, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(strings.TrimSpace(string(name)), "Content-Type") && ct.Len() == 0 {
					inCT = true
					ct.Write(bytes.TrimSpace(val))
				}
			}
		}
		if err == io.EOF {
			return ct.String(), n, nil
		}
		if err != nil {
			return "", 0, err
		}
	}
}

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
