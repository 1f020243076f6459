package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// bodyPolicy is what the body rewriter does.
type bodyPolicy struct {
	encode8bit bool        // re-encode 8-bit leaves for a 7-bit next hop
	html       *htmlPolicy // strip HTML parts; nil leaves them alone
}

// bodyResult is the rewritten body and what changed.
type bodyResult struct {
	Body    []byte
	Changed bool
	// RootCTE is the new Content-Transfer-Encoding of a single-part
	// message (its header is the message header, which the host edits);
	// "" when the root is a container or was not re-encoded.
	RootCTE string
	Notes   []string
}

// maxDepth bounds nesting of multiparts and message/rfc822 (as the host's
// part listing does); deeper content is copied as it is.
const maxDepth = 20

var errTooLarge = errors.New("body larger than max_size")

// rewriteBody streams body (the bytes after the message header) through
// the policy. rootType and rootCTE are the message's Content-Type and
// Content-Transfer-Encoding field values ("" when absent). Everything not
// rewritten is copied byte for byte; only one leaf part is held in memory
// at a time besides the output, which is at most limit bytes.
func rewriteBody(body io.Reader, rootType, rootCTE string, pol bodyPolicy, limit int64) (*bodyResult, error) {
	rw := &rewriter{in: bufio.NewReaderSize(body, 64<<10), pol: pol, limit: limit}
	if s, ok := body.(interface{ Size() int64 }); ok {
		// Room for base64 growth up front, rather than doubling past it.
		rw.out.Grow(int(min(s.Size()+s.Size()*2/5+4096, limit)))
	}
	root := entity{cte: normCTE(rootCTE)}
	root.mediaType, root.params = parseType(rootType)
	if isContainer(&root, 0) {
		term, err := rw.container(&root, nil, 0)
		if err != nil {
			return nil, err
		}
		rw.write(term) // nil: there are no outer delimiters
	} else if err := rw.rootLeaf(&root); err != nil {
		return nil, err
	}
	if rw.err == errTooLarge || int64(rw.out.Len()) > limit {
		return nil, errTooLarge
	}
	return &bodyResult{Body: rw.out.Bytes(), Changed: rw.changed, RootCTE: rw.rootCTE, Notes: rw.notes}, nil
}

type rewriter struct {
	in      *bufio.Reader
	out     bytes.Buffer
	pol     bodyPolicy
	limit   int64
	changed bool
	rootCTE string
	notes   []string
	err     error
}

// entity is a parsed MIME header.
type entity struct {
	fields    []rawField
	mediaType string // lower-case; "" when absent or unparseable
	params    map[string]string
	cte       string // lower-case, trimmed
}

// rawField is one header field with its exact bytes (every line, CRLFs).
type rawField struct {
	name string
	raw  []byte
}

func parseType(v string) (string, map[string]string) {
	if strings.TrimSpace(v) == "" {
		return "", nil
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		// A bad parameter still leaves the type usable, as mail readers do.
		mt, _, _ = strings.Cut(v, ";")
		return strings.ToLower(strings.TrimSpace(mt)), nil
	}
	return mt, params
}

func normCTE(v string) string { return strings.ToLower(strings.Trim(unfold(v), " \t")) }

func unfold(v string) string {
	return strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
}

func (rw *rewriter) write(b []byte) { rw.out.Write(b) }

// readLine returns the next line with its line break, or the rest of the
// input without one; nil at the end.
func (rw *rewriter) readLine() []byte {
	if rw.err != nil {
		return nil
	}
	line, err := rw.in.ReadBytes('\n')
	if err != nil {
		rw.err = err
		if len(line) == 0 {
			return nil
		}
	}
	if int64(rw.out.Len()+len(line)) > rw.limit {
		rw.err = errTooLarge
		return nil
	}
	return line
}

// boundaryLine reports whether line delimits one of bounds (RFC 2046
// section 5.1.1: "--" boundary, optionally "--", then optional
// whitespace): the index of the boundary, and whether it closes.
func boundaryLine(line []byte, bounds []string) (int, bool, bool) {
	if len(bounds) == 0 || !bytes.HasPrefix(line, []byte("--")) {
		return 0, false, false
	}
	l := bytes.TrimRight(line, " \t\r\n")
	for i := len(bounds) - 1; i >= 0; i-- {
		b := bounds[i]
		if len(l) < 2+len(b) || string(l[2:2+len(b)]) != b {
			continue
		}
		switch rest := l[2+len(b):]; string(rest) {
		case "":
			return i, false, true
		case "--":
			return i, true, true
		}
	}
	return 0, false, false
}

// readHeader reads a part header up to and including its blank line.
// A boundary line before the blank line ends the header early (a
// malformed part); it is returned as term.
func (rw *rewriter) readHeader(bounds []string) (e entity, blank, term []byte) {
	for {
		line := rw.readLine()
		if line == nil {
			break
		}
		if _, _, ok := boundaryLine(line, bounds); ok {
			term = line
			break
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			blank = line
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(e.fields) > 0 {
			f := &e.fields[len(e.fields)-1]
			f.raw = append(f.raw, line...)
			continue
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		e.fields = append(e.fields, rawField{name: strings.TrimSpace(string(name)), raw: append([]byte(nil), line...)})
	}
	for _, f := range e.fields {
		switch strings.ToLower(f.name) {
		case "content-type":
			e.mediaType, e.params = parseType(fieldValue(f.raw))
		case "content-transfer-encoding":
			e.cte = normCTE(fieldValue(f.raw))
		}
	}
	return e, blank, term
}

// fieldValue is the unfolded value of a raw field (after the colon).
func fieldValue(raw []byte) string {
	_, v, _ := bytes.Cut(raw, []byte(":"))
	return strings.Trim(unfold(string(v)), " \t")
}

// writeHeader writes a part header. With cte set, the part's
// Content-Transfer-Encoding fields are replaced by one naming it; with
// encode8bit, fields holding 8-bit bytes are rewritten as 7-bit.
func (rw *rewriter) writeHeader(e *entity, cte string) {
	for _, f := range e.fields {
		if cte != "" && strings.EqualFold(f.name, "Content-Transfer-Encoding") {
			continue
		}
		if rw.pol.encode8bit && has8bit(f.raw) {
			if nf, ok := sevenBitField(f.name, fieldValue(f.raw)); ok {
				rw.write([]byte(nf))
				rw.changed = true
				continue
			}
			rw.notes = append(rw.notes, fmt.Sprintf("part header field %s left with 8-bit bytes", f.name))
		}
		rw.write(f.raw)
		if !bytes.HasSuffix(f.raw, []byte("\n")) {
			rw.write([]byte("\r\n"))
		}
	}
	if cte != "" {
		rw.write([]byte("Content-Transfer-Encoding: " + cte + "\r\n"))
	}
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// isContainer reports whether e is walked into rather than treated as a
// leaf: a multipart with a boundary, or a message/rfc822 that is not
// (illegally) transfer-encoded.
func isContainer(e *entity, depth int) bool {
	if depth >= maxDepth {
		return false
	}
	return strings.HasPrefix(e.mediaType, "multipart/") && e.params["boundary"] != "" ||
		e.mediaType == "message/rfc822" && identity(e.cte)
}

// container processes the body of a container whose header is written;
// it ends at a delimiter of bounds, returned (not yet written), or at the
// end of input (nil).
func (rw *rewriter) container(e *entity, bounds []string, depth int) ([]byte, error) {
	if e.mediaType != "message/rfc822" {
		return rw.multipart(e, bounds, depth)
	}
	inner, blank, term := rw.readHeader(bounds)
	if term != nil || blank == nil {
		// A header cut short by a delimiter or the end: copy it.
		rw.writeHeader(&inner, "")
		rw.write(blank)
		return term, rw.ioErr()
	}
	if inner.mediaType == "" {
		inner.mediaType = "text/plain"
	}
	return rw.entity(&inner, blank, bounds, depth+1)
}

// entity handles a part whose header (and blank line) has been read, not
// written: a leaf's header is written once the encoding of its body is
// decided.
func (rw *rewriter) entity(e *entity, blank []byte, bounds []string, depth int) ([]byte, error) {
	if isContainer(e, depth) {
		rw.writeHeader(e, "")
		rw.write(blank)
		return rw.container(e, bounds, depth)
	}
	content, sep, term := rw.readContent(bounds)
	if err := rw.ioErr(); err != nil {
		return nil, err
	}
	data, cte, _ := rw.transform(e, content)
	rw.writeHeader(e, cte)
	rw.write(blank)
	rw.emit(data, cte)
	rw.write(sep)
	return term, nil
}

func (rw *rewriter) ioErr() error {
	if rw.err == nil || rw.err == io.EOF {
		return nil
	}
	return rw.err
}

// multipart copies a container's preamble, parts and epilogue.
func (rw *rewriter) multipart(e *entity, outer []string, depth int) ([]byte, error) {
	bounds := append(append([]string(nil), outer...), e.params["boundary"])
	own := len(bounds) - 1
	closed := false
	line := rw.readLine()
	for line != nil {
		k, closing, ok := boundaryLine(line, bounds)
		if !ok {
			rw.write(line) // preamble or epilogue
			line = rw.readLine()
			continue
		}
		if k != own {
			return line, rw.ioErr() // an outer delimiter: this container ends
		}
		rw.write(line)
		if closing || closed {
			// After the close delimiter only the epilogue follows;
			// a repeated delimiter there is copied like text.
			closed = true
			line = rw.readLine()
			continue
		}
		child, blank, term := rw.readHeader(bounds)
		if term != nil || blank == nil {
			rw.writeHeader(&child, "")
			rw.write(blank)
			line = term
			continue
		}
		if child.mediaType == "" {
			// RFC 2046 section 5.1.5: a digest's parts default to messages.
			child.mediaType = "text/plain"
			if e.mediaType == "multipart/digest" {
				child.mediaType = "message/rfc822"
			}
		}
		var err error
		line, err = rw.entity(&child, blank, bounds, depth+1)
		if err != nil {
			return nil, err
		}
	}
	return nil, rw.ioErr()
}

// rootLeaf handles a single-part message: its header is the message
// header, which the caller changes through the host.
func (rw *rewriter) rootLeaf(e *entity) error {
	if e.mediaType == "" {
		e.mediaType = "text/plain"
	}
	content, _, _ := rw.readContent(nil)
	if err := rw.ioErr(); err != nil {
		return err
	}
	data, cte, changed := rw.transform(e, content)
	if !changed {
		rw.write(content)
		return nil
	}
	rw.rootCTE = cte
	rw.emit(data, cte)
	// The message must end with a line break; for quoted-printable a soft
	// one adds nothing to the decoded content.
	if out := rw.out.Bytes(); len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		if cte == cteQP || (cte == "" && e.cte == cteQP) {
			rw.write([]byte("=\r\n"))
		} else {
			rw.write([]byte("\r\n"))
		}
	}
	return nil
}

// readContent reads a leaf body up to a delimiter of bounds. The line
// break before the delimiter belongs to it (RFC 2046), so it is returned
// apart, as sep.
func (rw *rewriter) readContent(bounds []string) (content, sep, term []byte) {
	var buf bytes.Buffer
	for {
		line := rw.readLine()
		if line == nil {
			return buf.Bytes(), nil, nil
		}
		if _, _, ok := boundaryLine(line, bounds); ok {
			b := buf.Bytes()
			switch {
			case bytes.HasSuffix(b, []byte("\r\n")):
				return b[:len(b)-2], []byte("\r\n"), line
			case bytes.HasSuffix(b, []byte("\n")):
				return b[:len(b)-1], []byte("\n"), line
			}
			return b, nil, line
		}
		buf.Write(line)
	}
}

// emit writes a leaf's content, encoded in cte unless cte is "".
func (rw *rewriter) emit(data []byte, cte string) {
	if cte == "" {
		rw.write(data)
		return
	}
	encodeContent(&rw.out, cte, data)
}

// transform decides what becomes of a leaf's content: data to write, and
// the transfer encoding to write it in ("" writes it as it is, under the
// declared encoding). changed reports whether that differs from raw.
func (rw *rewriter) transform(e *entity, raw []byte) (data []byte, cte string, changed bool) {
	data = raw
	if rw.pol.html != nil && e.mediaType == "text/html" {
		dec, err := decodeContent(e.cte, raw)
		if err != nil {
			rw.notes = append(rw.notes, "HTML part with a broken "+e.cte+" encoding left as it is")
		} else if clean, ok := sanitizeHTML(dec, rw.pol.html); ok {
			data, changed = clean, true
			rw.notes = append(rw.notes, "active or remote content stripped from an HTML part")
		}
	}
	switch {
	case changed && !identity(e.cte):
		cte = e.cte // re-encode as it was
	case identity(e.cte) && needs7bit(data) && (rw.pol.encode8bit || !has8bit(data) && changed):
		// For a 7-bit next hop; or HTML that was 7-bit and no longer
		// fits 7bit lines.
		cte = chooseEncoding(e.mediaType, data)
		changed = true
	case changed:
		rw.changed = true
		return data, "", true // identity encoding, still valid as declared
	default:
		if rw.pol.encode8bit && !identity(e.cte) && has8bit(raw) {
			rw.notes = append(rw.notes, "part declared "+e.cte+" holds 8-bit bytes; left as it is")
		}
		return raw, "", false
	}
	rw.changed = true
	return data, cte, true
}
