package sdk

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// Log writes one line to the host log of this filter. The host rate-limits
// plugin logs and drops (and counts) what exceeds the limit.
func Log(level int, msg string) { hostLog(int32(level), msg) }

// Logf formats and logs at info level.
func Logf(format string, args ...any) { hostLog(abi.LogInfo, fmt.Sprintf(format, args...)) }

// Log levels.
const (
	LevelTrace = abi.LogTrace
	LevelDebug = abi.LogDebug
	LevelInfo  = abi.LogInfo
	LevelWarn  = abi.LogWarn
	LevelError = abi.LogError
)

// Config returns the filter's `config = {...}` block as JSON ("{}" or empty when none).
func Config() ([]byte, error) {
	b, err := config()
	return bytes.Clone(b), err
}

// configBytes is the config once read: it never changes during an
// instance's life (ABI.md section 4), so it is read from the host once.
var configBytes []byte

func config() ([]byte, error) {
	if configBytes != nil {
		return configBytes, nil
	}
	b, err := hostConfig()
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	configBytes = b
	return b, nil
}

// ConfigJSON decodes the filter's config into v. An absent config leaves v
// untouched. It decodes with encoding/json, which is slow inside the guest
// (hundreds of microseconds for a small config): call it once, from init, rather
// than in every handler call.
func ConfigJSON(v any) error {
	b, err := config()
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, v)
}

// Body returns a reader over the raw message body (everything after the
// header's blank line), pulled from the host in chunks. Only valid in a
// Data handler.
func (e *DataEvent) Body() *BodyReader {
	return &BodyReader{size: e.BodySize, read: hostBodyRead}
}

// RawHeader returns the message header as it arrived: every field with its
// own spacing and folding, CRLF line ends, through the blank line. Header
// gives the same fields parsed; use RawHeader where the exact bytes
// matter (DKIM's simple header canonicalization). Only valid in a Data
// handler.
func (e *DataEvent) RawHeader() ([]byte, error) {
	return io.ReadAll(&BodyReader{size: e.Size - e.BodySize, read: hostHeaderRead})
}

// PartRaw returns a reader over part p's body as it appears in the message
// (still transfer-encoded).
func (e *DataEvent) PartRaw(p Part) *BodyReader {
	path := p.Path
	return &BodyReader{size: p.Size, read: func(off int64, b []byte) (int, error) { return hostPartRead(path, off, b) }}
}

// PartContent returns a reader over part p's body with its
// Content-Transfer-Encoding (base64, quoted-printable) undone.
func (e *DataEvent) PartContent(p Part) io.Reader {
	raw := e.PartRaw(p)
	switch strings.ToLower(p.Encoding) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &skipSpace{r: raw})
	case "quoted-printable":
		return quotedprintable.NewReader(raw)
	}
	return raw
}

// FindPart returns the part with that path.
func (e *DataEvent) FindPart(path string) (Part, bool) {
	for _, p := range e.Parts {
		if p.Path == path {
			return p, true
		}
	}
	return Part{}, false
}

// BodyReader reads a byte range held by the host. It implements io.Reader,
// io.ReaderAt and io.Seeker-free sequential reads in host-sized chunks.
type BodyReader struct {
	size int64
	off  int64
	read func(off int64, p []byte) (int, error)
}

// maxChunk bounds one host call; larger reads are split.
const maxChunk = 64 << 10

// Size is the number of bytes in the range.
func (r *BodyReader) Size() int64 { return r.size }

func (r *BodyReader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt reads len(p) bytes at off, or fewer with io.EOF at the end.
func (r *BodyReader) ReadAt(p []byte, off int64) (int, error) {
	total := 0
	for total < len(p) {
		if off >= r.size {
			return total, io.EOF
		}
		chunk := p[total:]
		if len(chunk) > maxChunk {
			chunk = chunk[:maxChunk]
		}
		n, err := r.read(off, chunk)
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, io.EOF
		}
		total += n
		off += int64(n)
	}
	return total, nil
}

// skipSpace drops the line breaks and spaces base64 bodies carry.
type skipSpace struct{ r io.Reader }

func (s *skipSpace) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// KVGet returns the value stored under key in this filter's namespace;
// the error is ErrNotFound when there is none. Values persist across
// restarts (at most 64 KiB each, 10000 keys).
func KVGet(key string) ([]byte, error) { return hostKVGet(key) }

// KVPut stores val under key.
func KVPut(key string, val []byte) error { return hostKVPut(key, val) }

// KVDelete removes key; deleting a missing key is not an error.
func KVDelete(key string) error {
	err := hostKVDelete(key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// LookupDNS resolves name for a record type (A, AAAA, TXT, MX, PTR).
// It fails with ErrDenied unless the operator granted "dns", and for a
// name outside the zones the operator allows (dns_zones), if any.
func LookupDNS(typ, name string) ([]string, error) {
	req, _ := json.Marshal(abi.DNSRequest{Type: typ, Name: name})
	out, err := hostDNS(req)
	if err != nil {
		return nil, err
	}
	var resp abi.DNSResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, err
	}
	return resp.Records, nil
}

// HTTPCall sends a request to the one endpoint the operator configured.
// It fails with ErrDenied unless the operator granted "http".
func HTTPCall(method, contentType string, body []byte) (*abi.HTTPResponse, error) {
	req, _ := json.Marshal(abi.HTTPRequest{Method: method, ContentType: contentType, Body: body})
	out, err := hostHTTP(req)
	if err != nil {
		return nil, err
	}
	var resp abi.HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
