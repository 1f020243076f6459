// Package control serves queue administration on a unix socket
// (<data_dir>/control.sock, mode 0600) for "sluice queue", with one JSON
// request per line and one JSON response per line.
package control

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/mta/queue"
)

// Request is one command.
type Request struct {
	Op     string `json:"op"` // list, show, flush, hold, release, delete
	ID     string `json:"id,omitempty"`
	Bounce bool   `json:"bounce,omitempty"`
}

// Response answers a Request. Code classifies an error so that the client
// can return the queue's sentinel errors.
type Response struct {
	OK       bool              `json:"ok"`
	Error    string            `json:"error,omitempty"`
	Code     string            `json:"code,omitempty"` // not_found, busy, locked, bad_request
	Messages []*queue.Envelope `json:"messages,omitempty"`
	Detail   *queue.Detail     `json:"detail,omitempty"`
	Count    int               `json:"count,omitempty"`
}

const (
	maxRequest  = 16 << 10
	idleTimeout = 5 * time.Minute
)

var codes = []struct {
	code string
	err  error
}{
	{"not_found", queue.ErrNotFound},
	{"busy", queue.ErrBusy},
	{"locked", queue.ErrLocked},
}

// Server is a listening control socket.
type Server struct {
	ln    *net.UnixListener
	admin queue.Admin
	log   hclog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Listen creates the socket at path. A stale socket left by a crash is
// replaced; a live one (another server) is an error.
func Listen(path string, admin queue.Admin, log hclog.Logger) (*Server, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control: another server is listening on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control: removing stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	// The data directory is 0700 already; this keeps the socket private
	// even if it is not.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	return &Server{ln: ln, admin: admin, log: log, conns: map[net.Conn]struct{}{}}, nil
}

// Serve accepts connections until Close. Run it in its own goroutine.
func (s *Server) Serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
			s.log.Error("control socket accept", "error", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(c)
	}
}

// Close stops listening, removes the socket file, ends open connections and
// waits for their handlers. Closing twice is harmless.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) handle(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	br := bufio.NewReaderSize(c, 4096)
	for {
		c.SetDeadline(time.Now().Add(idleTimeout))
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, errTooLong) {
				writeResponse(c, &Response{Error: "request too long", Code: "bad_request"})
			}
			return
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var req Request
		var resp *Response
		if err := json.Unmarshal(line, &req); err != nil {
			resp = &Response{Error: "malformed request: " + err.Error(), Code: "bad_request"}
		} else {
			resp = s.do(&req)
		}
		if err := writeResponse(c, resp); err != nil {
			return
		}
	}
}

var errTooLong = errors.New("line too long")

// readLine reads one line of at most maxRequest bytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxRequest {
			return nil, errTooLong
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, err
	}
}

func writeResponse(c net.Conn, r *Response) error {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(&Response{Error: err.Error()})
	}
	_, err = c.Write(append(b, '\n'))
	return err
}

func (s *Server) do(req *Request) *Response {
	var (
		resp = &Response{}
		err  error
	)
	switch req.Op {
	case "list":
		resp.Messages, err = s.admin.List()
	case "show":
		resp.Detail, err = s.admin.Show(req.ID)
	case "flush":
		resp.Count, err = s.admin.Flush(req.ID)
	case "hold":
		err = s.admin.Hold(req.ID)
	case "release":
		err = s.admin.Release(req.ID)
	case "delete":
		err = s.admin.Delete(req.ID, req.Bounce)
	case "quarantine-release":
		r, ok := s.admin.(QuarantineReleaser)
		if !ok {
			return &Response{Error: "this server cannot release quarantined messages", Code: "bad_request"}
		}
		err = r.ReleaseQuarantined(req.ID)
	default:
		return &Response{Error: fmt.Sprintf("unknown operation %q", req.Op), Code: "bad_request"}
	}
	if req.Op != "list" && req.Op != "show" {
		s.log.Info("queue command", "op", req.Op, "id", req.ID, "bounce", req.Bounce, "error", err)
	}
	if err != nil {
		resp = &Response{Error: err.Error()}
		for _, c := range codes {
			if errors.Is(err, c.err) {
				resp.Code = c.code
			}
		}
		return resp
	}
	resp.OK = true
	return resp
}

// Client talks to a control socket. It implements queue.Admin, returning
// the queue's sentinel errors (ErrNotFound, ErrBusy, ErrLocked).
type Client struct {
	Path    string
	Timeout time.Duration // per call; default 30s
}

var _ queue.Admin = (*Client)(nil)

// Call sends one request and returns its response.
func (c *Client) Call(req *Request) (*Response, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	conn, err := net.DialTimeout("unix", c.Path, timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("control: reading response: %w", err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("control: malformed response: %w", err)
	}
	if !resp.OK {
		for _, cd := range codes {
			if resp.Code == cd.code {
				return &resp, cd.err
			}
		}
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}

// List implements queue.Admin.
func (c *Client) List() ([]*queue.Envelope, error) {
	r, err := c.Call(&Request{Op: "list"})
	if err != nil {
		return nil, err
	}
	return r.Messages, nil
}

// Show implements queue.Admin.
func (c *Client) Show(id string) (*queue.Detail, error) {
	r, err := c.Call(&Request{Op: "show", ID: id})
	if err != nil {
		return nil, err
	}
	if r.Detail == nil || r.Detail.Envelope == nil {
		return nil, errors.New("control: empty response")
	}
	return r.Detail, nil
}

// Flush implements queue.Admin.
func (c *Client) Flush(id string) (int, error) {
	r, err := c.Call(&Request{Op: "flush", ID: id})
	if err != nil {
		return 0, err
	}
	return r.Count, nil
}

// Hold implements queue.Admin.
func (c *Client) Hold(id string) error { _, err := c.Call(&Request{Op: "hold", ID: id}); return err }

// Release implements queue.Admin.
func (c *Client) Release(id string) error {
	_, err := c.Call(&Request{Op: "release", ID: id})
	return err
}

// QuarantineReleaser moves a quarantined message into the queue
// (implemented by *queue.Queue and *Client).
type QuarantineReleaser interface {
	ReleaseQuarantined(id string) error
}

// ReleaseQuarantined asks the running server to queue a quarantined message.
func (c *Client) ReleaseQuarantined(id string) error {
	_, err := c.Call(&Request{Op: "quarantine-release", ID: id})
	return err
}

// Delete implements queue.Admin.
func (c *Client) Delete(id string, bounce bool) error {
	_, err := c.Call(&Request{Op: "delete", ID: id, Bounce: bounce})
	return err
}
