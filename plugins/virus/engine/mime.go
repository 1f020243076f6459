package engine

import (
	"bytes"
	"mime"
	"strconv"
	"strings"
)

// hostMaxLevels is how deep the sluice host numbers MIME parts (ABI: at
// most 20 levels are listed); deeper parts are stripped through their
// listed ancestor.
const hostMaxLevels = 20

// entityHeader holds the few fields the walker needs.
type entityHeader struct {
	contentType, encoding, disposition string
}

const maxFieldValue = 8 << 10

// splitHeader parses the header of an entity and returns it with the body.
// It never fails: anything before the first empty line is header; an entity
// without one is all header (like the host's parser).
func splitHeader(b []byte) (entityHeader, []byte) {
	var h entityHeader
	var name string
	var val []byte
	flush := func() {
		if name == "" {
			return
		}
		v := strings.TrimSpace(string(val))
		switch strings.ToLower(name) {
		case "content-type":
			if h.contentType == "" {
				h.contentType = v
			}
		case "content-transfer-encoding":
			if h.encoding == "" {
				h.encoding = strings.ToLower(v)
			}
		case "content-disposition":
			if h.disposition == "" {
				h.disposition = v
			}
		}
		name, val = "", nil
	}
	pos := 0
	for pos < len(b) {
		end := bytes.IndexByte(b[pos:], '\n')
		var line []byte
		next := len(b)
		if end >= 0 {
			line, next = b[pos:pos+end], pos+end+1
		} else {
			line = b[pos:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		pos = next
		if len(line) == 0 {
			flush()
			return h, b[pos:]
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != "" && len(val) < maxFieldValue {
				val = append(val, line...)
			}
			continue
		}
		flush()
		if i := bytes.IndexByte(line, ':'); i > 0 {
			n := string(bytes.TrimSpace(line[:i]))
			switch strings.ToLower(n) {
			case "content-type", "content-transfer-encoding", "content-disposition":
				name = n
				val = append([]byte(nil), line[i+1:min(len(line), i+1+maxFieldValue)]...)
			}
		}
	}
	flush()
	return h, nil
}

// mediaType parses a Content-Type or Content-Disposition value, leniently:
// a value Go's parser refuses still yields its type and simple parameters,
// since a malformed header is a classic way to hide an attachment.
func mediaType(v string) (string, map[string]string) {
	if t, p, err := mime.ParseMediaType(v); err == nil {
		return t, p
	}
	parts := strings.Split(v, ";")
	t := strings.ToLower(strings.TrimSpace(parts[0]))
	p := map[string]string{}
	for _, kv := range parts[1:] {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if _, dup := p[k]; !dup {
			p[k] = val
		}
	}
	return t, p
}

var wordDecoder = new(mime.WordDecoder)

// decodeName undoes RFC 2047 encoded words in a file name (RFC 2231 is
// handled by the media type parser).
func decodeName(s string) string {
	if strings.Contains(s, "=?") {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			return d
		}
	}
	return s
}

func (h entityHeader) filename() string {
	if _, p := mediaType(h.disposition); p["filename"] != "" {
		return decodeName(p["filename"])
	}
	_, p := mediaType(h.contentType)
	return decodeName(p["name"])
}

// message walks a message or embedded message (header and body).
func (sc *scan) message(msg []byte, depth int, l loc) {
	h, body := splitHeader(msg)
	t, params := mediaType(h.contentType)
	if strings.HasPrefix(t, "multipart/") && params["boundary"] != "" {
		sc.multipart(body, params["boundary"], "", depth, l)
		return
	}
	path := "1"
	if l.hostVisible {
		l.part = path
	}
	sc.leaf(h, body, depth, l.child("part "+path))
}

// multipart walks the children of a multipart body; path is the
// container's own path ("" for the message's top level).
func (sc *scan) multipart(body []byte, boundary, path string, depth int, l loc) {
	if depth+1 > sc.lim.MaxDepth {
		sc.limit("MaxRecursion", l)
		return
	}
	delim := []byte("--" + boundary)
	start := -1 // start of the current child
	n := 0
	pos := 0
	for pos <= len(body) {
		i := bytes.Index(body[pos:], delim)
		if i < 0 {
			break
		}
		at := pos + i
		pos = at + len(delim)
		if at > 0 && body[at-1] != '\n' {
			continue
		}
		eol := bytes.IndexByte(body[pos:], '\n')
		lineEnd := len(body)
		if eol >= 0 {
			lineEnd = pos + eol + 1
		}
		rest := bytes.TrimRight(body[pos:lineEnd], " \t\r\n")
		closing := bytes.Equal(rest, []byte("--"))
		if len(rest) != 0 && !closing {
			continue // a longer boundary that starts with ours
		}
		if start >= 0 {
			end := at
			if end > start && body[end-1] == '\n' {
				end--
				if end > start && body[end-1] == '\r' {
					end--
				}
			}
			n++
			if !sc.child(body[start:end], path, n, depth, l) {
				return
			}
		}
		if closing {
			return
		}
		start = lineEnd
		pos = lineEnd
	}
	if start >= 0 && start < len(body) { // no closing delimiter: the last child runs to the end
		n++
		sc.child(body[start:], path, n, depth, l)
	}
}

// child walks one child entity of a multipart; false stops the walk.
func (sc *scan) child(ent []byte, path string, n, depth int, l loc) bool {
	if sc.rep.Files >= sc.lim.MaxFiles {
		sc.limit("MaxFiles", l)
		return false
	}
	p := strconv.Itoa(n)
	if path != "" {
		p = path + "." + p
	}
	cl := l.child("part " + p)
	if l.hostVisible && strings.Count(p, ".") < hostMaxLevels {
		cl.part = p
	}
	h, body := splitHeader(ent)
	t, params := mediaType(h.contentType)
	if strings.HasPrefix(t, "multipart/") && params["boundary"] != "" {
		sc.multipart(body, params["boundary"], p, depth+1, cl)
		return true
	}
	sc.leaf(h, body, depth+1, cl)
	return true
}

// leaf decodes a non-multipart entity and scans it: an embedded message
// is walked, anything else is a file.
func (sc *scan) leaf(h entityHeader, body []byte, depth int, l loc) {
	var data []byte
	switch h.encoding {
	case "base64":
		if int64(len(body))/4*3 > sc.lim.MaxFileSize {
			sc.limit("MaxFileSize", l)
			return
		}
		data = decodeBase64(body)
	case "quoted-printable":
		if int64(len(body)) > sc.lim.MaxFileSize {
			sc.limit("MaxFileSize", l)
			return
		}
		data = decodeQP(body)
	default:
		data = body
	}
	if !sc.account(int64(len(data)), l) {
		return
	}
	t, _ := mediaType(h.contentType)
	if t == "message/rfc822" || t == "message/global" {
		if depth+1 > sc.lim.MaxDepth {
			sc.limit("MaxRecursion", l)
			return
		}
		inner := l
		inner.hostVisible = false
		sc.message(data, depth+1, inner.child("message"))
		return
	}
	sc.file(data, h.filename(), depth, l)
}

var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = byte(i)
	}
	return
}()

// decodeBase64 decodes leniently, like mail clients: characters outside
// the alphabet are skipped and decoding stops at padding.
func decodeBase64(src []byte) []byte {
	out := make([]byte, 0, len(src)/4*3+3)
	var acc uint32
	n := 0
	for _, c := range src {
		if c == '=' {
			break
		}
		v := b64[c]
		if v == 0xff {
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	switch n {
	case 2:
		out = append(out, byte(acc>>4))
	case 3:
		out = append(out, byte(acc>>10), byte(acc>>2))
	}
	return out
}

// decodeQP decodes quoted-printable leniently: a malformed escape is kept
// as it is.
func decodeQP(src []byte) []byte {
	out := make([]byte, 0, len(src))
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i+1 < len(src) && src[i+1] == '\n' {
			i++
			continue
		}
		if i+2 < len(src) && src[i+1] == '\r' && src[i+2] == '\n' {
			i += 2
			continue
		}
		if i+2 < len(src) {
			hi, ok1 := hexNibble(src[i+1])
			lo, ok2 := hexNibble(src[i+2])
			if ok1 && ok2 {
				out = append(out, hi<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, c)
	}
	return out
}
