// Package links keeps the objects that filters granted "blob" hand over
// (attachments taken out of messages by plugins/attachlink) and serves them
// over HTTP at unguessable, expiring links.
//
// Each object is two blobs named by the SHA-256 of its token, so a listing
// does not reveal any link: ID.data (the bytes) and ID.json (name, type,
// size, digest, expiry), written in that order, each all or nothing. An
// object exists when its .json does. Expired objects are removed when asked
// for and by Sweep. The blobs live in a local directory (each written
// through a temporary file, fsync and rename) or, with Options.S3, in an
// S3-compatible bucket as objects PREFIX+ID.data and PREFIX+ID.json.
package links

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// TokenBytes is the entropy of a link token: 192 bits, written as 32
// base64url characters.
const (
	TokenBytes = 24
	TokenLen   = 32
)

// ErrNotFound is returned for an unknown, malformed or expired token.
var ErrNotFound = errors.New("links: no such object")

// ErrTooLarge is returned by Put when an object exceeds the size limit.
var ErrTooLarge error = tooLargeError{}

type tooLargeError struct{}

func (tooLargeError) Error() string  { return "links: object too large" }
func (tooLargeError) TooLarge() bool { return true }

// Options configure a Store.
type Options struct {
	Dir     string        // created if missing; unused with S3
	S3      *S3           // keep the objects in an S3 bucket instead of Dir
	BaseURL string        // links are BaseURL + "/d/" + token + "/" + name
	TTL     time.Duration // lifetime of an object, and the most a caller may ask for
	MaxSize int64         // largest object; 0 = no limit
	Now     func() time.Time
}

// Store is a collection of expiring objects.
type Store struct {
	opts Options
	b    backend
	mu   sync.Mutex // serialises Sweep with itself
	// expires caches, for Sweep, the expiry of the objects it has read
	// (by ID), so that a bucket's metadata is read once, not every minute.
	expires map[string]time.Time
}

// Meta describes a stored object.
type Meta struct {
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
}

// Open creates the directory if needed; with S3, it checks that the
// bucket can be reached and exists.
func Open(opts Options) (*Store, error) {
	if opts.TTL <= 0 {
		return nil, errors.New("links: ttl must be positive")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	var b backend
	if opts.S3 != nil {
		sb, err := openS3(*opts.S3, opts.MaxSize)
		if err != nil {
			return nil, err
		}
		b = sb
	} else {
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return nil, err
		}
		b = dirBackend{opts.Dir}
	}
	return &Store{opts: opts, b: b}, nil
}

// NewToken returns a fresh random token.
func NewToken() string {
	var b [TokenBytes]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ParseToken checks that s is a well-formed token: exactly TokenLen
// base64url characters. Anything else is not a token.
func ParseToken(s string) (string, bool) {
	if len(s) != TokenLen {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return s, true
}

// id is the file name of a token's object: its SHA-256, so the files do
// not give the tokens away.
func id(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// maxMeta bounds the size of an ID.json.
const maxMeta = 64 << 10

// Put stores r's bytes under a new token. ttl ≤ 0, or above the store's
// TTL, means the store's TTL. An object above the size limit is refused
// (ErrTooLarge) as soon as its bytes pass the limit.
func (s *Store) Put(ctx context.Context, r io.Reader, filename, contentType string, ttl time.Duration) (abi.BlobInfo, error) {
	if ttl <= 0 || ttl > s.opts.TTL {
		ttl = s.opts.TTL
	}
	token := NewToken()
	base := id(token)
	h := sha256.New()
	src := &limitReader{r: ctxReader{ctx, r}, max: s.opts.MaxSize}
	err := s.b.write(ctx, base+".data", io.TeeReader(src, h), -1)
	if src.over {
		s.b.remove(ctx, base+".data")
		return abi.BlobInfo{}, ErrTooLarge
	}
	if err != nil {
		return abi.BlobInfo{}, err
	}
	now := s.opts.Now()
	m := Meta{Filename: filename, ContentType: contentType, Size: src.n, SHA256: hex.EncodeToString(h.Sum(nil)),
		Created: now.UTC(), Expires: now.Add(ttl).UTC().Truncate(time.Second)}
	js, _ := json.Marshal(m)
	if err := s.b.write(ctx, base+".json", bytes.NewReader(js), int64(len(js))); err != nil {
		s.b.remove(ctx, base+".data")
		return abi.BlobInfo{}, err
	}
	return abi.BlobInfo{Token: token, URL: s.URL(token, filename), Size: m.Size, SHA256: m.SHA256,
		Expires: m.Expires.Format(time.RFC3339)}, nil
}

// limitReader reads r until more than max bytes (0: no limit) have come,
// then fails with ErrTooLarge and sets over.
type limitReader struct {
	r    io.Reader
	max  int64
	n    int64
	over bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.over {
		return 0, ErrTooLarge
	}
	if room := l.max - l.n + 1; l.max > 0 && int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.max > 0 && l.n > l.max {
		l.over = true
		return 0, ErrTooLarge
	}
	return n, err
}

// URL is the download link of token; the file name is only decoration.
func (s *Store) URL(token, filename string) string {
	u := s.opts.BaseURL + "/d/" + token
	if name := urlName(filename); name != "" {
		u += "/" + name
	}
	return u
}

// urlName makes a file name safe as one URL path segment: at most 100
// bytes of letters, digits and . - _, other runs become one '_'.
func urlName(name string) string {
	var b strings.Builder
	under := false
	for _, c := range name {
		if b.Len() >= 100 {
			break
		}
		if c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b.WriteRune(c)
			under = false
		} else if !under {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.Trim(b.String(), "._")
}

// Get opens the object of token. An unknown, malformed or expired token
// gives ErrNotFound; an expired object is removed.
func (s *Store) Get(ctx context.Context, token string) (io.ReadSeekCloser, Meta, error) {
	token, ok := ParseToken(token)
	if !ok {
		return nil, Meta{}, ErrNotFound
	}
	base := id(token)
	m, err := s.readMeta(ctx, base)
	if err != nil {
		return nil, Meta{}, ErrNotFound
	}
	if !s.opts.Now().Before(m.Expires) {
		s.b.remove(ctx, base+".json")
		s.b.remove(ctx, base+".data")
		return nil, Meta{}, ErrNotFound
	}
	f, err := s.b.open(ctx, base+".data")
	if err != nil {
		return nil, Meta{}, ErrNotFound
	}
	return f, m, nil
}

func (s *Store) readMeta(ctx context.Context, base string) (Meta, error) {
	var m Meta
	b, err := s.b.read(ctx, base+".json", maxMeta)
	if err != nil {
		return m, err
	}
	if len(b) > maxMeta {
		return m, fmt.Errorf("%w: more than %d bytes", errBadMeta, maxMeta)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %v", errBadMeta, err)
	}
	return m, nil
}

// errBadMeta is an ID.json that was read but is not valid metadata.
var errBadMeta = errors.New("links: malformed metadata")

// orphanAge is how old a .data without .json (a Put cut short) or a
// temporary file must be before Sweep removes it.
const orphanAge = time.Hour

// Sweep removes expired objects and the leftovers of interrupted writes.
// It returns how many objects it removed.
func (s *Store) Sweep() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx := context.Background()
	ents, err := s.b.list(ctx)
	if err != nil {
		return 0, err
	}
	now := s.opts.Now()
	old := func(e entry) bool { return now.Sub(e.modTime) > orphanAge }
	have := map[string]bool{}
	expires := map[string]time.Time{}
	removed := 0
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.name, ".json")
		if !ok {
			continue
		}
		exp, known := s.expires[base]
		if !known {
			m, err := s.readMeta(ctx, base)
			switch {
			case err == nil:
				exp, known = m.Expires, true
			case errors.Is(err, fs.ErrNotExist): // removed since the listing: remove its data too
			case errors.Is(err, errBadMeta) && old(e): // damaged for long: remove
			default: // maybe being written, or the store failing: keep
				have[base] = true
				continue
			}
		}
		if known && now.Before(exp) {
			have[base] = true
			expires[base] = exp
			continue
		}
		s.b.remove(ctx, e.name)
		s.b.remove(ctx, base+".data")
		removed++
	}
	s.expires = expires
	for _, e := range ents {
		base, isData := strings.CutSuffix(e.name, ".data")
		if isData && have[base] || !isData && !strings.HasSuffix(e.name, ".tmp") || !old(e) {
			continue
		}
		if isData {
			if _, err := s.b.read(ctx, base+".json", maxMeta); !errors.Is(err, fs.ErrNotExist) {
				continue // completed after the listing, or cannot tell
			}
		}
		s.b.remove(ctx, e.name)
	}
	return removed, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
