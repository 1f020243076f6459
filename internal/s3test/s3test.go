// Package s3test serves an in-memory S3-compatible object store
// (github.com/johannesboyne/gofakes3) over HTTP on a loopback port, for
// tests of code that talks S3 to a real server.
package s3test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// decodeChunked decodes the aws-chunked body of a request signed with
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD (minio-go's way over plain HTTP)
// before gofakes3 sees it: gofakes3 v1.2.0 decodes it for PutObject but
// stores the chunk framing as data in UploadPart. Each chunk is
// "HEXSIZE;chunk-signature=SIG\r\n" DATA "\r\n", the last one empty.
// The chunk signatures are not checked (nor does gofakes3 check any).
func decodeChunked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Content-Sha256") != "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" {
			next.ServeHTTP(w, r)
			return
		}
		var data []byte
		br := bufio.NewReader(r.Body)
		for {
			line, err := br.ReadString('\n')
			size, _, ok := strings.Cut(strings.TrimSuffix(line, "\r\n"), ";chunk-signature=")
			n, perr := strconv.ParseInt(size, 16, 64)
			if err != nil || !ok || perr != nil || n < 0 || n > 64<<20 {
				http.Error(w, "bad aws-chunked framing", http.StatusBadRequest)
				return
			}
			chunk := make([]byte, n+2)
			if _, err := io.ReadFull(br, chunk); err != nil || string(chunk[n:]) != "\r\n" {
				http.Error(w, "bad aws-chunked chunk", http.StatusBadRequest)
				return
			}
			if n == 0 {
				break
			}
			data = append(data, chunk[:n]...)
		}
		if r.Header.Get("X-Amz-Decoded-Content-Length") != strconv.Itoa(len(data)) {
			http.Error(w, "decoded length mismatch", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(data))
		r.ContentLength = int64(len(data))
		r.Header.Set("Content-Length", strconv.Itoa(len(data)))
		r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		r.Header.Del("Content-Encoding")
		next.ServeHTTP(w, r)
	})
}

// Credentials the server is started with. gofakes3 does not check
// signatures: any keys are accepted.
const (
	AccessKey = "sluice-test"
	SecretKey = "sluice-test-secret"
)

// Server is a running store with one empty bucket.
type Server struct {
	Endpoint string // 127.0.0.1:PORT, plain HTTP
	Bucket   string
	mem      *s3mem.Backend
	clock    *clock
	mu       sync.Mutex
	ranges   []string
}

// Start serves a store with the bucket until the test ends.
func Start(t testing.TB, bucket string) *Server {
	t.Helper()
	c := &clock{}
	mem := s3mem.New(s3mem.WithTimeSource(c))
	if err := mem.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Endpoint: ln.Addr().String(), Bucket: bucket, mem: mem, clock: c}
	fake := decodeChunked(gofakes3.New(mem).Server())
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rg := r.Header.Get("Range"); rg != "" && r.Method == http.MethodGet {
			s.mu.Lock()
			s.ranges = append(s.ranges, rg)
			s.mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Ranges returns the Range headers of the GETs served so far.
func (s *Server) Ranges() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ranges)
}

// Keys lists the bucket's keys, sorted.
func (s *Server) Keys(t testing.TB) []string {
	t.Helper()
	list, err := s.mem.ListBucket(s.Bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range list.Contents {
		keys = append(keys, c.Key)
	}
	sort.Strings(keys)
	return keys
}

// Age makes the objects written from now on look d older (their
// Last-Modified), as if written d ago.
func (s *Server) Age(d time.Duration) { s.clock.set(-d) }

// clock is the store's time source, shifted by Age.
type clock struct {
	mu    sync.Mutex
	shift time.Duration
}

func (c *clock) set(d time.Duration) { c.mu.Lock(); c.shift = d; c.mu.Unlock() }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.shift)
}

func (c *clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
