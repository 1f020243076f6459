package main

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/sluice-mail/sluice/sdk"
)

// partFix is one leaf part re-encoded on its own: the host writes its new
// header (the Content-Type and Content-Disposition given here, and the
// transfer encoding it picks: quoted-printable for text/*, base64
// otherwise, ABI.md 3.3) and keeps every other byte of the body.
type partFix struct {
	Path, ContentType, Disposition string
	Content                        []byte
}

// partFixes is eight_bit = "encode" for a body too large to come back
// whole: it finds the leaf parts, as the host lists them, whose content
// cannot travel 7-bit, and re-encodes each alone, at most budget bytes of
// them in all. A part it cannot replace without losing something (an
// embedded message, which the host does not open; a header field besides
// Content-Type and Content-Disposition, such as a Content-ID that HTML
// refers to) stays as it is, noted.
func partFixes(m message, budget int64) ([]partFix, []string, error) {
	var fixes []partFix
	var notes []string
	for _, p := range m.Parts {
		if p.Multipart || !identity(p.Encoding) {
			continue
		}
		if p.End-p.BodyStart > budget {
			// Not even read: it could not be re-encoded within the budget.
			notes = append(notes, fmt.Sprintf("part %s of %d bytes not checked for 8-bit content: over what is left of twice max_size", p.Path, p.End-p.BodyStart))
			continue
		}
		content, err := readRange(m.BodyAt, p.BodyStart, p.End)
		if err != nil {
			return nil, notes, err
		}
		if !needs7bit(content) {
			continue
		}
		root := p.Path == "1" && p.BodyStart == 0 && p.HeaderStart == 0
		var fields [][2]string
		if root {
			// The host sets only the MIME fields of the message header.
			for _, f := range m.Header {
				fields = append(fields, [2]string{f.Name, f.Value})
			}
		} else {
			raw, err := readRange(m.BodyAt, p.HeaderStart, p.BodyStart)
			if err != nil {
				return nil, notes, err
			}
			fields = partHeader(raw)
		}
		ct, disp, other := mimeFields(fields, root)
		switch {
		case strings.HasPrefix(p.ContentType, "message/"):
			notes = append(notes, fmt.Sprintf("part %s: 8-bit content inside an embedded message left as it is (too large to rewrite the body whole)", p.Path))
			continue
		case !hostCharset(ct):
			notes = append(notes, fmt.Sprintf("part %s: 8-bit content left as it is: the host re-encodes a part only in utf-8 or us-ascii", p.Path))
			continue
		case other != "":
			notes = append(notes, fmt.Sprintf("part %s: 8-bit content left as it is: replacing the part alone would drop its %s field", p.Path, other))
			continue
		}
		budget -= int64(len(content))
		if t, params, err := mime.ParseMediaType(ct); err == nil && strings.Contains(t, "/") {
			ct = mime.FormatMediaType(t, params)
		} else {
			ct = "" // absent or unreadable: what the host read (RFC 2045 section 5.2)
		}
		if ct == "" {
			ct = mime.FormatMediaType(p.ContentType, map[string]string{"charset": p.Charset})
			if p.Charset == "" {
				ct = p.ContentType
			}
		}
		if d, params, err := mime.ParseMediaType(disp); err == nil {
			disp = mime.FormatMediaType(d, params)
		} else {
			disp = ""
		}
		fixes = append(fixes, partFix{Path: p.Path, ContentType: ct, Disposition: disp, Content: content})
	}
	return fixes, notes, nil
}

// readRange reads body bytes [start, end).
func readRange(r io.ReaderAt, start, end int64) ([]byte, error) {
	if r == nil || start < 0 || end < start {
		return nil, fmt.Errorf("part range %d-%d not readable", start, end)
	}
	b := make([]byte, end-start)
	if _, err := r.ReadAt(b, start); err != nil && !(err == io.EOF && len(b) == 0) {
		return nil, err
	}
	return b, nil
}

// partHeader splits a part's raw header into unfolded fields.
func partHeader(raw []byte) [][2]string {
	var out [][2]string
	for _, line := range bytes.Split(raw, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1][1] += " " + strings.TrimSpace(string(line))
			continue
		}
		if name, val, ok := strings.Cut(string(line), ":"); ok {
			out = append(out, [2]string{strings.TrimSpace(name), strings.TrimSpace(val)})
		}
	}
	return out
}

// mimeFields returns the Content-Type and Content-Disposition values and,
// for a part that is not the message itself, the name of a field a part
// replacement would lose ("" if none).
func mimeFields(fields [][2]string, root bool) (ct, disp, other string) {
	for _, f := range fields {
		switch strings.ToLower(f[0]) {
		case "content-type":
			if ct == "" {
				ct = f[1]
			}
		case "content-disposition":
			if disp == "" {
				disp = f[1]
			}
		case "content-transfer-encoding", "mime-version":
		default:
			if !root && other == "" {
				other = f[0]
			}
		}
	}
	return ct, disp, other
}

// hostPartsOK reports whether the parts listed carry byte ranges (a host
// older than the plugin sends none).
func hostPartsOK(parts []sdk.Part, bodySize int64) bool {
	for _, p := range parts {
		if p.HeaderStart < 0 || p.HeaderStart > p.BodyStart || p.BodyStart > p.End || p.End > bodySize {
			return false
		}
	}
	return len(parts) > 0
}

// planParts puts partFixes into ch, unless a DKIM signature forbids it.
func (s *settings) planParts(m message, sigs signatures, ch *edits) ([]string, error) {
	if !hostPartsOK(m.Parts, m.BodySize) {
		return []string{"8-bit parts not re-encoded: the event gives no part byte ranges"}, nil
	}
	// Twice max_size: the parts' content and its encoding in the result
	// stay within the memory max_size is sized for (about 12 times it).
	fixes, notes, err := partFixes(m, min(2*s.maxSize, maxResultBody))
	if err != nil || len(fixes) == 0 {
		return notes, err
	}
	if len(sigs) > 0 && !s.dkimNormalize {
		return append(notes, "8-bit parts not re-encoded: the message carries a DKIM-Signature (set dkim = \"normalize\" to change it anyway)"), nil
	}
	ch.Parts = fixes
	return append(notes, fmt.Sprintf("%d 8-bit part(s) re-encoded one by one", len(fixes))), nil
}

// hostCharset reports whether the host can write a replaced part of this
// Content-Type: go-message, which renders it, refuses any charset but
// utf-8 and us-ascii, and the message would then be tempfailed at DATA.
func hostCharset(ct string) bool {
	_, params, _ := mime.ParseMediaType(ct)
	switch strings.ToLower(params["charset"]) {
	case "", "utf-8", "us-ascii":
		return true
	}
	return false
}
