package plugin

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"sort"
	"strings"

	"github.com/emersion/go-message"
)

// Apply writes original with ch's header, body and part changes to w.
// When ch changes nothing in the message it copies original byte for byte;
// so does it for every header field and body byte that ch does not touch.
// Envelope changes (sender, recipients, reroutes) are the relay's to apply.
//
// Header and whole-body changes stream; part replacements read the body
// into memory (it is bounded by the relay's message size limit).
func Apply(ch *Changes, original io.Reader, w io.Writer) error {
	if !ch.MessageChanged() {
		_, err := io.Copy(w, original)
		return err
	}
	fields, body, _, err := rewrite(ch, bufio.NewReader(original))
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for _, f := range fields {
		bw.Write(f.raw)
		if !bytes.HasSuffix(f.raw, []byte("\n")) { // last line of a header-only message
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
	if _, err := io.Copy(bw, body); err != nil {
		return err
	}
	return bw.Flush()
}

// rewrite reads the header of the message in br and returns the header
// fields and the body Apply writes for ch. The body is the rest of br
// (bodyLen -1) unless a body or part change replaced it (bodyLen bytes, in
// memory).
func rewrite(ch *Changes, br *bufio.Reader) (fields []rawField, body io.Reader, bodyLen int64, err error) {
	orig, _, err := readHeader(br, maxHeaderBytes)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("apply: %w", err)
	}
	fields = append([]rawField(nil), orig...)
	rank := map[string]int{}
	for i := range fields {
		n := strings.ToLower(fields[i].name)
		rank[n]++
		fields[i].nth = rank[n]
	}
	body, bodyLen = br, -1
	switch {
	case ch.ReplaceBody:
		b := crlf(ch.Body)
		body, bodyLen = bytes.NewReader(b), int64(len(b))
	case len(ch.Parts) > 0:
		rest, err := io.ReadAll(br)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("apply: %w", err)
		}
		var extra []HeaderChange
		rest, extra, err = replaceParts(orig, rest, ch.Parts)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("apply: %w", err)
		}
		fields = applyHeaderChanges(fields, extra)
		body, bodyLen = bytes.NewReader(rest), int64(len(rest))
	}
	return applyHeaderChanges(fields, ch.Headers), body, bodyLen, nil
}

// measure returns the sizes of the header (its blank line included) and
// of the whole message that Apply would write for ch over m, without
// writing it: the body is read only when a part change needs it. m.Body
// must hold the whole message from offset 0, as ReadMessage makes it.
func measure(ch *Changes, m *Message) (header, total int64, err error) {
	fields, _, bodyLen, err := rewrite(ch, bufio.NewReader(io.NewSectionReader(m.Body, 0, m.Size)))
	if err != nil {
		return 0, 0, err
	}
	for _, f := range fields {
		header += int64(len(f.raw))
		if !bytes.HasSuffix(f.raw, []byte("\n")) {
			header += 2
		}
	}
	header += 2
	if bodyLen < 0 {
		bodyLen = m.BodySize
	}
	return header, header + bodyLen, nil
}

// applyHeaderChanges applies changes to fields in order (ABI.md 3.3) in
// time linear in the fields and changes: a result may hold hundreds of
// thousands of changes, and rewriting the list for each (as prepend, set and
// remove naively do) would cost the host minutes outside the plugin's timeout.
// Fields are kept in place and marked dead; prepended ones collect in top,
// newest last. Field names match case-insensitively in ASCII (header field
// names are ASCII; a change's name is checked to be).
func applyHeaderChanges(fields []rawField, changes []HeaderChange) []rawField {
	if len(changes) == 0 {
		return fields
	}
	type entry struct {
		f    rawField
		dead bool
	}
	// byName holds the live entries of a name: those in top in the order
	// they were prepended (the last is the first in the header), then the
	// others in header order (after a set, its one field is there, wherever
	// it stands). Dead ones may linger until the next set or remove of that
	// name clears the lists.
	type named struct{ top, rest []*entry }
	var top, rest []*entry
	byName := map[string]*named{}
	ranked := map[string]map[int]*entry{} // original fields by name and rank (rawField.nth; a set replaces one with nth 0)
	of := func(name string) *named {
		k := lowerASCII(name)
		n := byName[k]
		if n == nil {
			n = &named{}
			byName[k] = n
		}
		return n
	}
	for _, f := range fields {
		e := &entry{f: f}
		rest = append(rest, e)
		n := of(f.name)
		n.rest = append(n.rest, e)
		if f.nth > 0 {
			k := lowerASCII(f.name)
			if ranked[k] == nil {
				ranked[k] = map[int]*entry{}
			}
			ranked[k][f.nth] = e
		}
	}
	kill := func(es []*entry, keep *entry) {
		for _, e := range es {
			if e != keep {
				e.dead = true
			}
		}
	}
	for _, c := range changes {
		nf := rawField{name: c.Name, raw: []byte(c.Name + ": " + c.Value + "\r\n")}
		n := of(c.Name)
		switch c.Op {
		case HeaderAdd:
			e := &entry{f: nf}
			rest = append(rest, e)
			n.rest = append(n.rest, e)
		case HeaderPrepend:
			e := &entry{f: nf}
			top = append(top, e)
			n.top = append(n.top, e)
		case HeaderRemove:
			if c.Index == 0 {
				kill(n.top, nil)
				kill(n.rest, nil)
				n.top, n.rest = nil, nil
			} else if e := ranked[lowerASCII(c.Name)][c.Index]; e != nil && e.f.nth == c.Index {
				e.dead = true // n.rest may keep it: dead entries are skipped
			}
		case HeaderSet:
			var first *entry
			for i := len(n.top) - 1; i >= 0 && first == nil; i-- {
				if !n.top[i].dead {
					first = n.top[i]
				}
			}
			for i := 0; i < len(n.rest) && first == nil; i++ {
				if !n.rest[i].dead {
					first = n.rest[i]
				}
			}
			kill(n.top, first)
			kill(n.rest, first)
			n.top, n.rest = nil, nil
			if first == nil {
				first = &entry{}
				rest = append(rest, first)
			}
			first.f = nf // a new field (nth 0): an index no longer reaches it
			n.rest = append(n.rest, first)
		}
	}
	out := make([]rawField, 0, len(top)+len(rest))
	for i := len(top) - 1; i >= 0; i-- {
		if !top[i].dead {
			out = append(out, top[i].f)
		}
	}
	for _, e := range rest {
		if !e.dead {
			out = append(out, e.f)
		}
	}
	return out
}

// lowerASCII lower-cases the ASCII letters of s.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// crlf turns bare LF and bare CR line endings into CRLF, as SMTP
// requires: the relay refuses either from clients (some receivers end a
// line at a bare CR, which lets "\r.\r" end DATA early), and a plugin's
// body must not carry them on.
func crlf(b []byte) []byte {
	if !bytes.ContainsAny(b, "\r\n") {
		return b
	}
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/32)
	for i, c := range b {
		switch {
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			out.WriteString("\r\n")
		case c == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			out.WriteString("\r\n")
		default:
			out.WriteByte(c)
		}
	}
	return out.Bytes()
}

// replaceParts splices new leaf parts into body (the bytes after the
// header). For the message's own single part ("1" of a non-multipart
// message) the new MIME header fields are returned as header changes.
func replaceParts(header []rawField, body []byte, reps []PartReplacement) ([]byte, []HeaderChange, error) {
	parts, err := scanParts(bytes.NewReader(body), header, 0, int64(len(body)))
	if err != nil {
		return nil, nil, err
	}
	type splice struct {
		start, end int64
		data       []byte
	}
	var splices []splice
	var hdrChanges []HeaderChange
	for _, r := range reps {
		var p *part
		for i := range parts {
			if parts[i].Path == r.Path {
				p = &parts[i]
			}
		}
		if p == nil {
			return nil, nil, fmt.Errorf("part %s: no such part", r.Path)
		}
		hdr, enc, err := encodePart(r)
		if err != nil {
			return nil, nil, err
		}
		if p.root {
			hdrChanges = append(hdrChanges,
				HeaderChange{Op: HeaderSet, Name: "MIME-Version", Value: "1.0"},
				HeaderChange{Op: HeaderSet, Name: "Content-Type", Value: mimeValue(r.ContentType)},
				HeaderChange{Op: HeaderSet, Name: "Content-Transfer-Encoding", Value: transferEncoding(r.ContentType)},
				HeaderChange{Op: HeaderRemove, Name: "Content-Disposition"})
			if r.Disposition != "" {
				hdrChanges = append(hdrChanges, HeaderChange{Op: HeaderSet, Name: "Content-Disposition", Value: mimeValue(r.Disposition)})
			}
			return enc, hdrChanges, nil
		}
		splices = append(splices, splice{p.hdrStart, p.end, append(hdr, enc...)})
	}
	sort.Slice(splices, func(i, j int) bool { return splices[i].start < splices[j].start })
	var out bytes.Buffer
	pos := int64(0)
	for _, s := range splices {
		out.Write(body[pos:s.start])
		out.Write(s.data)
		pos = s.end
	}
	out.Write(body[pos:])
	return out.Bytes(), hdrChanges, nil
}

func transferEncoding(contentType string) string {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "text/") {
		return "quoted-printable"
	}
	return "base64"
}

// mimeValue re-formats a media type or disposition so it is safe in a header.
func mimeValue(v string) string {
	t, params, err := mime.ParseMediaType(v)
	if err != nil {
		return v
	}
	return mime.FormatMediaType(t, params)
}

// encodePart renders a replacement part: its header block (ending in the
// blank line) and its body, transfer-encoded. No line of either can be a
// boundary delimiter of an enclosing multipart ("--" + boundary, RFC 2046
// section 5.1.1): header lines start with a field name; encodeQP never
// starts a line with '-'; base64 lines hold only A-Z a-z 0-9 + / =.
func encodePart(r PartReplacement) (hdr, body []byte, err error) {
	t, params, err := mime.ParseMediaType(r.ContentType)
	if err != nil {
		return nil, nil, fmt.Errorf("part %s: %w", r.Path, err)
	}
	cte := transferEncoding(r.ContentType)
	if cte == "quoted-printable" {
		body = encodeQP(r.Content)
	} else {
		var h message.Header
		h.SetContentType(t, params)
		h.Set("Content-Transfer-Encoding", cte)
		var buf bytes.Buffer
		mw, err := message.CreateWriter(&buf, h)
		if err != nil {
			return nil, nil, fmt.Errorf("part %s: %w", r.Path, err)
		}
		if _, err := mw.Write(r.Content); err != nil {
			return nil, nil, err
		}
		if err := mw.Close(); err != nil {
			return nil, nil, err
		}
		all := buf.Bytes()
		i := bytes.Index(all, []byte("\r\n\r\n"))
		if i < 0 {
			return nil, nil, fmt.Errorf("part %s: go-message wrote no header", r.Path)
		}
		body = all[i+4:]
	}
	// The header is ours, in a fixed order and without go-message's MIME-Version.
	var hb bytes.Buffer
	hb.WriteString("Content-Type: " + mime.FormatMediaType(t, params) + "\r\n")
	if r.Disposition != "" {
		hb.WriteString("Content-Disposition: " + mimeValue(r.Disposition) + "\r\n")
	}
	hb.WriteString("Content-Transfer-Encoding: " + cte + "\r\n\r\n")
	return hb.Bytes(), body, nil
}
