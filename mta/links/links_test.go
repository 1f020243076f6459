package links

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newStore(t *testing.T, max int64) (*Store, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, err := Open(Options{Dir: t.TempDir(), BaseURL: "https://files.example/", TTL: time.Hour, MaxSize: max, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func body(t *testing.T, r *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPutServe(t *testing.T) {
	s, c := newStore(t, 0)
	data := make([]byte, 100_000)
	rand.Read(data)
	info, err := s.Put(context.Background(), bytes.NewReader(data), "Rapport été.pdf", "application/pdf", 0)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if info.Size != int64(len(data)) || info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("info %+v", info)
	}
	if _, ok := ParseToken(info.Token); !ok {
		t.Errorf("token %q does not parse", info.Token)
	}
	if want := "https://files.example/d/" + info.Token + "/Rapport_t_.pdf"; info.URL != want {
		t.Errorf("url %q, want %q", info.URL, want)
	}
	if info.Expires != "2025-01-01T01:00:00Z" {
		t.Errorf("expires %q", info.Expires)
	}
	// The directory does not reveal the token.
	ents, _ := os.ReadDir(s.opts.Dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), info.Token) {
			t.Errorf("file %s names the token", e.Name())
		}
	}

	h := s.Handler()
	path := strings.TrimPrefix(info.URL, "https://files.example")
	r := get(t, h, "GET", path)
	if r.StatusCode != 200 || !bytes.Equal(body(t, r), data) {
		t.Fatalf("GET: %d", r.StatusCode)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); cd != "attachment; filename*=utf-8''Rapport%20%C3%A9t%C3%A9.pdf" {
		t.Errorf("Content-Disposition %q", cd)
	}
	if r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	r = get(t, h, "GET", "/d/"+info.Token, "Range", "bytes=1000-1999")
	if r.StatusCode != http.StatusPartialContent || !bytes.Equal(body(t, r), data[1000:2000]) {
		t.Errorf("range: %d", r.StatusCode)
	}
	if cr := r.Header.Get("Content-Range"); cr != "bytes 1000-1999/100000" {
		t.Errorf("Content-Range %q", cr)
	}
	r = get(t, h, "HEAD", path)
	if r.StatusCode != 200 || r.Header.Get("Content-Length") != "100000" {
		t.Errorf("HEAD %d %q", r.StatusCode, r.Header.Get("Content-Length"))
	}
	if r := get(t, h, "POST", path); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST %d", r.StatusCode)
	}

	// Unknown, malformed and expired tokens get the very same answer.
	notFound := func(p string) {
		t.Helper()
		r := get(t, h, "GET", p)
		b := body(t, r)
		if r.StatusCode != 404 || string(b) != "Not found\n" || r.Header.Get("Content-Disposition") != "" {
			t.Errorf("%s: %d %q", p, r.StatusCode, b)
		}
	}
	notFound("/d/" + NewToken())
	notFound("/d/short")
	notFound("/d/" + info.Token[:31] + "!")
	notFound("/x/" + info.Token)
	notFound("/d/")
	c.add(time.Hour)
	notFound(path)
	if ents, _ := os.ReadDir(s.opts.Dir); len(ents) != 0 {
		t.Errorf("expired object left %d files", len(ents))
	}
}

func TestTTLAndLimit(t *testing.T) {
	s, c := newStore(t, 1000)
	info, err := s.Put(context.Background(), strings.NewReader("short"), "a.txt", "text/plain", time.Minute)
	if err != nil || info.Expires != "2025-01-01T00:01:00Z" {
		t.Fatalf("%+v %v", info, err)
	}
	if info, _ := s.Put(context.Background(), strings.NewReader("long"), "a.txt", "", 48*time.Hour); info.Expires != "2025-01-01T01:00:00Z" {
		t.Errorf("ttl above the store's: expires %q", info.Expires)
	}
	if _, err := s.Put(context.Background(), bytes.NewReader(make([]byte, 1001)), "big", "", 0); err != ErrTooLarge {
		t.Errorf("oversize: %v", err)
	}
	c.add(2 * time.Minute)
	if _, _, err := s.Get(context.Background(), info.Token); err != ErrNotFound {
		t.Errorf("expired: %v", err)
	}
}

func TestSweep(t *testing.T) {
	s, c := newStore(t, 0)
	short, _ := s.Put(context.Background(), strings.NewReader("a"), "a", "", time.Minute)
	long, _ := s.Put(context.Background(), strings.NewReader("b"), "b", "", time.Hour)
	// Leftovers of an interrupted Put: a .data without .json, a .tmp.
	orphan := filepath.Join(s.opts.Dir, strings.Repeat("0", 64)+".data")
	os.WriteFile(orphan, []byte("x"), 0o600)
	tmp := filepath.Join(s.opts.Dir, "x.json.abc.tmp")
	os.WriteFile(tmp, []byte("x"), 0o600)
	c.add(2 * time.Minute)
	if n, err := s.Sweep(); n != 1 || err != nil {
		t.Errorf("sweep removed %d, %v", n, err)
	}
	if _, _, err := s.Get(context.Background(), short.Token); err != ErrNotFound {
		t.Error("short-lived object survived")
	}
	if f, _, err := s.Get(context.Background(), long.Token); err != nil {
		t.Error("live object removed")
	} else {
		f.Close()
	}
	if _, err := os.Stat(orphan); err != nil {
		t.Error("young orphan removed")
	}
	old := time.Now().Add(-2 * orphanAge)
	os.Chtimes(orphan, old, old)
	os.Chtimes(tmp, old, old)
	// Orphans' ages are measured on the store clock against their mtime.
	c.t = time.Now()
	s.Sweep()
	for _, p := range []string{orphan, tmp} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s not removed", p)
		}
	}
}

func TestServer(t *testing.T) {
	s, _ := newStore(t, 0)
	srv, err := Listen(s, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Close()
	info, _ := s.Put(context.Background(), strings.NewReader("hello"), "h.txt", "text/plain; charset=utf-8", 0)
	for tok, want := range map[string]int{info.Token: 200, NewToken(): 404} {
		r, err := http.Get("http://" + srv.Addr().String() + "/d/" + tok)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != want || want == 200 && string(b) != "hello" {
			t.Errorf("%s: %d %q", tok, r.StatusCode, b)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add(NewToken())
	f.Add("/d/" + NewToken() + "/x.pdf")
	f.Add("")
	f.Add("/d/../../etc/passwd")
	f.Fuzz(func(t *testing.T, s string) {
		tok, ok := ParseToken(s)
		if ok {
			if tok != s || len(tok) != TokenLen || strings.ContainsAny(tok, "/.\\%") {
				t.Fatalf("accepted %q", s)
			}
		}
		if tok, ok := tokenFromPath(s); ok {
			if len(tok) != TokenLen || !strings.HasPrefix(s, "/d/"+tok) {
				t.Fatalf("path %q gave token %q", s, tok)
			}
			// The object file name derives from the token only: no path tricks.
			if filepath.Base(id(tok)) != id(tok) {
				t.Fatalf("id %q", id(tok))
			}
		}
	})
}
