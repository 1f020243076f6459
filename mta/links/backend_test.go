package links

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sluice-mail/sluice/internal/s3test"
)

// backends opens a Store of each kind on opts; keys lists the names of its
// blobs (for S3, the keys without the prefix); ranges, for S3, the Range
// headers of the GETs the server answered.
var backends = []struct {
	name string
	open func(t *testing.T, opts Options) (s *Store, keys, ranges func() []string)
}{
	{"dir", func(t *testing.T, opts Options) (*Store, func() []string, func() []string) {
		opts.Dir = t.TempDir()
		s, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		return s, func() []string {
			ents, _ := os.ReadDir(opts.Dir)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			return names
		}, nil
	}},
	{"s3", func(t *testing.T, opts Options) (*Store, func() []string, func() []string) {
		srv := s3test.Start(t, "links")
		opts.S3 = &S3{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Region: "us-east-1", Prefix: "relay/",
			AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey}
		s, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		return s, func() []string {
			var names []string
			for _, k := range srv.Keys(t) {
				name, ok := strings.CutPrefix(k, "relay/")
				if !ok {
					t.Errorf("key %q outside the prefix", k)
				}
				names = append(names, name)
			}
			return names
		}, srv.Ranges
	}},
}

func httpGet(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r, b
}

// TestBackends runs the same store through the link server over each
// backend: a multi-part upload downloaded whole and by range, unknown and
// expired tokens, Sweep and the size limit.
func TestBackends(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			s, keys, ranges := be.open(t, Options{BaseURL: "http://files.example/", TTL: time.Hour, MaxSize: 7 << 20, Now: c.now})
			srv, err := Listen(s, "127.0.0.1:0", nil)
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve()
			defer srv.Close()
			base := "http://" + srv.Addr().String()

			data := make([]byte, 6<<20+123) // more than one 5 MiB part
			rand.Read(data)
			info, err := s.Put(context.Background(), bytes.NewReader(data), "Rapport été.pdf", "application/pdf", 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{id(info.Token) + ".data", id(info.Token) + ".json"}; !slices.Equal(keys(), want) {
				t.Errorf("blobs %q, want %q", keys(), want)
			}
			url := base + strings.TrimPrefix(info.URL, "http://files.example")
			r, got := httpGet(t, url)
			if r.StatusCode != 200 || !bytes.Equal(got, data) {
				t.Fatalf("GET: %d, %d bytes, identical=%v", r.StatusCode, len(got), bytes.Equal(got, data))
			}
			for h, want := range map[string]string{
				"Content-Type":        "application/pdf",
				"Content-Disposition": "attachment; filename*=utf-8''Rapport%20%C3%A9t%C3%A9.pdf",
				"Content-Length":      "6291579",
				"ETag":                `"` + info.SHA256 + `"`,
			} {
				if got := r.Header.Get(h); got != want {
					t.Errorf("%s: %q, want %q", h, got, want)
				}
			}
			r, got = httpGet(t, url, "Range", "bytes=5242000-5243999")
			if r.StatusCode != http.StatusPartialContent || !bytes.Equal(got, data[5242000:5244000]) {
				t.Errorf("range: %d, %d bytes", r.StatusCode, len(got))
			}
			if cr := r.Header.Get("Content-Range"); cr != "bytes 5242000-5243999/6291579" {
				t.Errorf("Content-Range %q", cr)
			}
			// The store was asked from the range on, not for the whole object.
			if ranges != nil && !slices.ContainsFunc(ranges(), func(r string) bool { return strings.HasPrefix(r, "bytes=5242000-") }) {
				t.Errorf("no ranged GET from the store: %q", ranges())
			}

			notFound := func(url string) {
				t.Helper()
				r, b := httpGet(t, url)
				if r.StatusCode != 404 || string(b) != "Not found\n" || r.Header.Get("Content-Disposition") != "" {
					t.Errorf("%s: %d %q", url, r.StatusCode, b)
				}
			}
			notFound(base + "/d/" + NewToken())

			// Sweep removes what expired and keeps the rest.
			short, err := s.Put(context.Background(), strings.NewReader("short"), "s.txt", "text/plain", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			c.add(2 * time.Minute)
			if n, err := s.Sweep(); n != 1 || err != nil {
				t.Errorf("sweep removed %d, %v", n, err)
			}
			notFound(base + "/d/" + short.Token)
			if got := len(keys()); got != 2 {
				t.Errorf("%d blobs after the sweep, want 2", got)
			}
			// An expired object asked for gets the same 404 and is removed.
			c.add(time.Hour)
			notFound(url)
			if k := keys(); len(k) != 0 {
				t.Errorf("expired object left %q", k)
			}

			// The size limit holds while streaming, past the first part too.
			for _, size := range []int{7<<20 + 1, 20 << 20} {
				_, err := s.Put(context.Background(), bytes.NewReader(make([]byte, size)), "big", "", 0)
				if err != ErrTooLarge {
					t.Errorf("%d bytes: %v", size, err)
				}
			}
			if _, err := s.Put(context.Background(), bytes.NewReader(make([]byte, 7<<20)), "max", "", 0); err != nil {
				t.Errorf("object at the limit: %v", err)
			}
			if got := len(keys()); got != 2 {
				t.Errorf("%d blobs after refused objects, want 2", got)
			}
		})
	}
}

// TestS3Sweep: in a shared bucket, Sweep removes an old half-written
// object, keeps a young one, and never touches keys it did not write.
func TestS3Sweep(t *testing.T) {
	srv := s3test.Start(t, "shared")
	c := &clock{t: time.Now()}
	s, err := Open(Options{TTL: time.Hour, Now: c.now, S3: &S3{Endpoint: srv.Endpoint, Bucket: srv.Bucket,
		Prefix: "links/", AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(key, body string) {
		t.Helper()
		if err := s.b.write(ctx, strings.TrimPrefix(key, "links/"), strings.NewReader(body), int64(len(body))); err != nil {
			t.Fatal(err)
		}
	}
	srv.Age(2 * orphanAge)
	oldOrphan := "links/" + strings.Repeat("a", 64) + ".data"
	put(oldOrphan, "x")
	put("links/"+strings.Repeat("b", 64)+".json", "not json")
	put("links/notes.json", "{}")
	put("links/"+strings.Repeat("c", 64)+".json.bak", "{}")
	srv.Age(0)
	youngOrphan := "links/" + strings.Repeat("d", 64) + ".data"
	put(youngOrphan, "x")
	other, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.PutObject(ctx, srv.Bucket, strings.Repeat("e", 64)+".json", strings.NewReader("{}"), 2, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	live, err := s.Put(ctx, strings.NewReader("live"), "l.txt", "", 0)
	if err != nil {
		t.Fatal(err)
	}

	if n, err := s.Sweep(); n != 1 || err != nil { // the damaged .json
		t.Errorf("sweep removed %d, %v", n, err)
	}
	want := []string{
		strings.Repeat("e", 64) + ".json", // outside the prefix
		"links/" + strings.Repeat("c", 64) + ".json.bak",
		youngOrphan,
		"links/" + id(live.Token) + ".data",
		"links/" + id(live.Token) + ".json",
		"links/notes.json",
	}
	slices.Sort(want)
	if got := srv.Keys(t); !slices.Equal(got, want) {
		t.Errorf("keys after sweep:\n%q\nwant\n%q", got, want)
	}
	// The expiry read by the first sweep is remembered, and still obeyed.
	c.add(2 * time.Hour)
	if n, err := s.Sweep(); n != 1 || err != nil {
		t.Errorf("second sweep removed %d, %v", n, err)
	}
	if _, _, err := s.Get(ctx, live.Token); err != ErrNotFound {
		t.Errorf("expired object: %v", err)
	}
}

func TestS3OpenErrors(t *testing.T) {
	srv := s3test.Start(t, "links")
	for _, tc := range []struct {
		name string
		s3   S3
		want string
	}{
		{"missing bucket", S3{Endpoint: srv.Endpoint, Bucket: "other"}, `bucket "other" does not exist`},
		{"bad endpoint", S3{Endpoint: "http://" + srv.Endpoint, Bucket: "links"}, "s3 endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.s3.AccessKey, tc.s3.SecretKey = s3test.AccessKey, s3test.SecretKey
			_, err := Open(Options{TTL: time.Hour, S3: &tc.s3})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
