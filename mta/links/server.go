package links

import (
	"context"
	"errors"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Handler serves GET and HEAD /d/TOKEN and /d/TOKEN/NAME (NAME is ignored).
// Every failure to find an object (malformed, unknown or expired token)
// gets the same 404, so tokens cannot be probed. Range requests and
// conditional requests are answered by http.ServeContent.
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "private, no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "Method not allowed", http.StatusMethodNotAllowed)
			return
		}
		token, ok := tokenFromPath(r.URL.Path)
		if !ok {
			notFound(w)
			return
		}
		f, m, err := s.Get(r.Context(), token)
		if err != nil {
			notFound(w)
			return
		}
		defer f.Close()
		h.Set("Content-Type", safeType(m.ContentType))
		h.Set("Content-Disposition", disposition(m.Filename))
		// The object may be HTML or SVG: never let a browser run it in our origin.
		h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		h.Set("ETag", `"`+m.SHA256+`"`)
		http.ServeContent(w, r, "", m.Created, f)
	})
}

// TokenFromPath extracts the token of /d/TOKEN or /d/TOKEN/NAME.
func tokenFromPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/d/")
	if !ok {
		return "", false
	}
	tok, _, _ := strings.Cut(rest, "/")
	return ParseToken(tok)
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte("Not found\n"))
}

// safeType returns a well-formed media type, application/octet-stream otherwise.
func safeType(t string) string {
	mt, params, err := mime.ParseMediaType(t)
	if err != nil || !strings.Contains(mt, "/") {
		return "application/octet-stream"
	}
	if v := mime.FormatMediaType(mt, params); v != "" {
		return v
	}
	return "application/octet-stream"
}

// disposition makes an attachment Content-Disposition; non-ASCII names use
// RFC 2231 encoding (mime.FormatMediaType does it).
func disposition(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	if name != "" {
		if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
			return v
		}
	}
	return "attachment"
}

// Server is the download listener with its sweeper.
type Server struct {
	store *Store
	srv   *http.Server
	ln    net.Listener
	once  sync.Once
	stop  chan struct{}
	done  chan struct{}
}

// Listen opens the listener; Serve starts answering.
func Listen(store *Store, addr string, log hclog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Server{store: store, ln: ln, stop: make(chan struct{}), done: make(chan struct{}),
		srv: &http.Server{
			Handler:           store.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
		}}
	go s.sweep(log)
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers requests until Close.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the listener, open downloads and the sweeper.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.stop) })
	err := s.srv.Close()
	<-s.done
	return err
}

// sweepEvery is how often expired objects are removed.
const sweepEvery = time.Minute

func (s *Server) sweep(log hclog.Logger) {
	defer close(s.done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		if n, err := s.store.Sweep(); err != nil {
			log.Warn("link store sweep failed", "error", err)
		} else if n > 0 {
			log.Info("expired links removed", "count", n)
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// Shutdown stops gracefully, waiting for downloads in progress until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(func() { close(s.stop) })
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
