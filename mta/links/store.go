// Package links keeps the objects that filters granted "blob" hand over
// (attachments taken out of messages by plugins/attachlink) in a local
// directory and serves them over HTTP at unguessable, expiring links.
//
// Each object is two files named by the SHA-256 of its token, so a listing
// of the directory does not reveal any link: ID.data (the bytes) and
// ID.json (name, type, size, digest, expiry), written in that order, each
// through a temporary file, fsync and rename. An object exists when its
// .json does. Expired objects are removed when asked for and by Sweep.
package links

import (
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
	"path/filepath"
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
	Dir     string        // created if missing
	BaseURL string        // links are BaseURL + "/d/" + token + "/" + name
	TTL     time.Duration // lifetime of an object, and the most a caller may ask for
	MaxSize int64         // largest object; 0 = no limit
	Now     func() time.Time
}

// Store is a directory of expiring objects.
type Store struct {
	opts Options
	mu   sync.Mutex // serialises Sweep with itself
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

// Open creates the directory if needed.
func Open(opts Options) (*Store, error) {
	if opts.TTL <= 0 {
		return nil, errors.New("links: ttl must be positive")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	return &Store{opts: opts}, nil
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

func (s *Store) paths(token string) (data, meta string) {
	base := filepath.Join(s.opts.Dir, id(token))
	return base + ".data", base + ".json"
}

// Put stores r's bytes under a new token. ttl ≤ 0, or above the store's
// TTL, means the store's TTL.
func (s *Store) Put(ctx context.Context, r io.Reader, filename, contentType string, ttl time.Duration) (abi.BlobInfo, error) {
	if ttl <= 0 || ttl > s.opts.TTL {
		ttl = s.opts.TTL
	}
	token := NewToken()
	dataPath, metaPath := s.paths(token)
	h := sha256.New()
	var src io.Reader = io.TeeReader(ctxReader{ctx, r}, h)
	if s.opts.MaxSize > 0 {
		src = io.LimitReader(src, s.opts.MaxSize+1)
	}
	n, err := writeFileSync(dataPath, src)
	if err != nil {
		return abi.BlobInfo{}, err
	}
	if s.opts.MaxSize > 0 && n > s.opts.MaxSize {
		os.Remove(dataPath)
		return abi.BlobInfo{}, ErrTooLarge
	}
	now := s.opts.Now()
	m := Meta{Filename: filename, ContentType: contentType, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)),
		Created: now.UTC(), Expires: now.Add(ttl).UTC().Truncate(time.Second)}
	js, _ := json.Marshal(m)
	if _, err := writeFileSync(metaPath, strings.NewReader(string(js))); err != nil {
		os.Remove(dataPath)
		return abi.BlobInfo{}, err
	}
	return abi.BlobInfo{Token: token, URL: s.URL(token, filename), Size: n, SHA256: m.SHA256,
		Expires: m.Expires.Format(time.RFC3339)}, nil
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
func (s *Store) Get(token string) (*os.File, Meta, error) {
	token, ok := ParseToken(token)
	if !ok {
		return nil, Meta{}, ErrNotFound
	}
	dataPath, metaPath := s.paths(token)
	m, err := readMeta(metaPath)
	if err != nil {
		return nil, Meta{}, ErrNotFound
	}
	if !s.opts.Now().Before(m.Expires) {
		os.Remove(metaPath)
		os.Remove(dataPath)
		return nil, Meta{}, ErrNotFound
	}
	f, err := os.Open(dataPath)
	if err != nil {
		return nil, Meta{}, ErrNotFound
	}
	return f, m, nil
}

func readMeta(path string) (Meta, error) {
	var m Meta
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if len(b) > 64<<10 {
		return m, errors.New("links: metadata too large")
	}
	return m, json.Unmarshal(b, &m)
}

// orphanAge is how old a .data without .json (a Put cut short) or a
// temporary file must be before Sweep removes it.
const orphanAge = time.Hour

// Sweep removes expired objects and the leftovers of interrupted writes.
// It returns how many objects it removed.
func (s *Store) Sweep() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ents, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return 0, err
	}
	now := s.opts.Now()
	have := map[string]bool{}
	removed := 0
	for _, e := range ents {
		name := e.Name()
		if base, ok := strings.CutSuffix(name, ".json"); ok {
			p := filepath.Join(s.opts.Dir, name)
			m, err := readMeta(p)
			if err == nil && now.Before(m.Expires) {
				have[base] = true
				continue
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) && !old(e, now) {
				have[base] = true // unreadable but young: maybe being written
				continue
			}
			os.Remove(p)
			os.Remove(filepath.Join(s.opts.Dir, base+".data"))
			removed++
		}
	}
	for _, e := range ents {
		name := e.Name()
		base, isData := strings.CutSuffix(name, ".data")
		if isData && have[base] || !isData && !strings.HasSuffix(name, ".tmp") {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.opts.Dir, base+".json")); isData && err == nil {
			continue // completed after the listing
		}
		if old(e, now) {
			os.Remove(filepath.Join(s.opts.Dir, name))
		}
	}
	return removed, nil
}

func old(e fs.DirEntry, now time.Time) bool {
	info, err := e.Info()
	return err == nil && now.Sub(info.ModTime()) > orphanAge
}

// writeFileSync writes r to path through a temporary file, fsync and rename.
func writeFileSync(path string, r io.Reader) (int64, error) {
	tmp := fmt.Sprintf("%s.%s.tmp", path, NewToken()[:8])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return n, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return n, nil
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
