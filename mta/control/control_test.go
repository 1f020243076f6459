package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mta/deliver"
	"github.com/sluice-mail/sluice/mta/queue"
)

type deferAll struct{}

func (deferAll) Deliver(_ context.Context, _ *deliver.Message, rcpts []string) []deliver.Result {
	out := make([]deliver.Result, len(rcpts))
	for i, r := range rcpts {
		out[i] = deliver.Result{Rcpt: r, Code: 451, Text: "later"}
	}
	return out
}
func (deferAll) Close() error { return nil }

type oneRoute struct{}

func (oneRoute) Route(*queue.Recipient) (string, deliver.Transport, error) {
	return "d", deferAll{}, nil
}

func start(t *testing.T) (*queue.Queue, *Server, string) {
	t.Helper()
	dir := t.TempDir()
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "queue"), Router: oneRoute{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	path := filepath.Join(dir, "control.sock")
	s, err := Listen(path, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return q, s, path
}

func add(t *testing.T, q *queue.Queue) string {
	t.Helper()
	in, err := q.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, "Subject: x\r\n\r\nbody\r\n")
	env := &queue.Envelope{From: "a@example.com", Recipients: []*queue.Recipient{{Addr: "b@example.org"}}}
	if err := q.Commit(in, env); err != nil {
		t.Fatal(err)
	}
	return env.ID
}

func TestClientServer(t *testing.T) {
	q, s, path := start(t)
	id := add(t, q)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	c := &Client{Path: path}
	envs, err := c.List()
	if err != nil || len(envs) != 1 || envs[0].ID != id || envs[0].Recipients[0].Addr != "b@example.org" {
		t.Fatalf("list: %+v, %v", envs, err)
	}
	d, err := c.Show(id)
	if err != nil || d.Header != "Subject: x\r\n" {
		t.Fatalf("show: %+v, %v", d, err)
	}
	if err := c.Hold(id); err != nil {
		t.Fatal(err)
	}
	if envs, _ := q.List(); !envs[0].Held {
		t.Error("hold through the socket did not reach the queue")
	}
	if err := c.Release(id); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Flush(""); err != nil || n != 0 {
		t.Errorf("flush: %d, %v", n, err) // not started: nothing parked
	}
	if _, err := c.Show("nosuchmessage0"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("show of a missing id: %v", err)
	}
	if err := c.Delete(id, false); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 0 {
		t.Error("delete through the socket did not reach the queue")
	}

	s.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
}

// Hostile or broken requests get an error response and never stop the server.
func TestBadRequests(t *testing.T) {
	_, _, path := start(t)
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	ask := func(line string) Response {
		t.Helper()
		if _, err := io.WriteString(conn, line+"\n"); err != nil {
			t.Fatal(err)
		}
		b, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		var r Response
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, line := range []string{`{`, `[1,2]`, `{"op":"explode"}`, `{"op":"hold","id":"../../etc/passwd"}`, `{"op":7}`} {
		if r := ask(line); r.OK || r.Error == "" {
			t.Errorf("%s: %+v", line, r)
		}
	}
	if r := ask(`{"op":"list"}`); !r.OK {
		t.Errorf("list after bad requests: %+v", r)
	}
	// Too long: an error, then the connection is closed.
	io.WriteString(conn, `{"op":"`+strings.Repeat("x", 20<<10)+"\n")
	b, _ := br.ReadBytes('\n')
	if !strings.Contains(string(b), "too long") {
		t.Errorf("long request: %q", b)
	}
	if r, err := (&Client{Path: path}).Call(&Request{Op: "list"}); err != nil || !r.OK {
		t.Errorf("server after a long request: %v", err)
	}
}

func TestListenStaleAndLive(t *testing.T) {
	_, _, path := start(t)
	if _, err := Listen(path, nil, nil); err == nil || !strings.Contains(err.Error(), "another server") {
		t.Errorf("second listener on a live socket: %v", err)
	}

	// A socket file nobody listens on (a crashed server) is replaced.
	stale := filepath.Join(t.TempDir(), "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s, err := Listen(stale, nil, nil)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	s.Close()

	notSock := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notSock, nil, 0o600)
	if _, err := Listen(notSock, nil, nil); err == nil {
		t.Error("listened over a regular file")
	}
}
