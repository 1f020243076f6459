package queue

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mta/deliver"
)

// TestSpoolFileCrashStates builds the states a crash can leave in the spool
// and checks what recovery makes of each: a committed message (valid
// trailer) is delivered byte for byte; a file whose trailer is missing or
// does not match its bytes (cut short or torn before its fsync completed,
// so never acknowledged) is removed; an ID.env without ID.msg (a finished
// message whose removal was cut short) is removed; a message in the format
// of earlier versions (ID.msg holding only the data, ID.env beside it) is
// delivered; a deferred message whose state went to ID.env keeps that state.
func TestSpoolFileCrashStates(t *testing.T) {
	dir := t.TempDir()
	tr := newScripted()
	q, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}})
	if err != nil {
		t.Fatal(err)
	}
	committed := enqueue(t, q, "committed\r\n", "c@a.example")
	torn := enqueue(t, q, "torn body\r\n", "t@a.example")
	cut := enqueue(t, q, "cut short\r\n", "s@a.example")
	finished := enqueue(t, q, "finished\r\n", "f@a.example")
	deferred := enqueue(t, q, "deferred\r\n", "d@a.example")
	q.Close()

	path := func(id, ext string) string { return filepath.Join(dir, id+ext) }
	// One byte of the data changed: the CRC no longer matches.
	b, _ := os.ReadFile(path(torn, ".msg"))
	b[2] ^= 0xff
	os.WriteFile(path(torn, ".msg"), b, 0o600)
	// The trailer cut short.
	b, _ = os.ReadFile(path(cut, ".msg"))
	os.WriteFile(path(cut, ".msg"), b[:len(b)-5], 0o600)
	// Removal got as far as unlinking ID.msg.
	env, err := readTrailer(path(finished, ".msg"), finished)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path(finished, ".msg"))
	os.WriteFile(path(finished, ".env"), mustEncode(t, env), 0o600)
	// A deferred attempt rewrote the envelope to ID.env.
	env, err = readTrailer(path(deferred, ".msg"), deferred)
	if err != nil {
		t.Fatal(err)
	}
	env.Recipients[0].Attempts = 3
	os.WriteFile(path(deferred, ".env"), mustEncode(t, env), 0o600)
	// A recycled file renamed to a new message's name while it still held
	// its previous message, valid trailer included (recycle.go).
	stale := newID()
	b, _ = os.ReadFile(path(committed, ".msg"))
	os.WriteFile(path(stale, ".msg"), b, 0o600)
	// A message spooled by an earlier version: data only, then ID.env.
	legacy := newID()
	os.WriteFile(path(legacy, ".msg"), []byte("legacy\r\n"), 0o600)
	os.WriteFile(path(legacy, ".env"), mustEncode(t, &Envelope{ID: legacy, From: "x@example.com", Size: 8,
		Recipients: []*Recipient{{Addr: "l@a.example", State: StateQueued}}}), 0o600)

	q2, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}})
	if err != nil {
		t.Fatal(err)
	}
	if q2.Len() != 3 {
		t.Fatalf("recovered %d messages, want 3 (committed, deferred, legacy)", q2.Len())
	}
	d, err := q2.Show(deferred)
	if err != nil || d.Envelope.Recipients[0].Attempts != 3 {
		t.Fatalf("deferred message: %v %+v", err, d)
	}
	for _, gone := range []string{torn + ".msg", cut + ".msg", finished + ".env", stale + ".msg"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s left in place: %v", gone, err)
		}
	}
	q2.Start()
	defer q2.Close()
	waitFor(t, "delivery after restart", func() bool { return q2.Len() == 0 })
	for rcpt, want := range map[string]string{"c@a.example": "committed\r\n", "d@a.example": "deferred\r\n", "l@a.example": "legacy\r\n"} {
		if got, _ := tr.get(rcpt); got != want {
			t.Errorf("%s: delivered %q, want %q", rcpt, got, want)
		}
	}
	for _, r := range []string{"t@a.example", "s@a.example", "f@a.example"} {
		if _, ok := tr.get(r); ok {
			t.Errorf("%s delivered", r)
		}
	}
	if f := files(t, dir); len(f) != 0 {
		t.Errorf("files left: %v", f)
	}
}

// TestRecycledSpoolFile: a finished message's file is reused for the next
// one, which may be shorter; the new message's trailer ends the file, so
// it survives a restart and is delivered byte for byte.
func TestRecycledSpoolFile(t *testing.T) {
	dir := t.TempDir()
	tr := newScripted()
	q, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	long := strings.Repeat("a long first message\r\n", 500)
	enqueue(t, q, long, "a@a.example")
	waitFor(t, "first delivery", func() bool { return q.Len() == 0 })
	if free, _ := filepath.Glob(filepath.Join(dir, "*.free")); len(free) != 1 {
		t.Fatalf("spool files kept for reuse: %v", free)
	}
	// Before its commit, the reused file shows only the new message.
	in, err := q.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, "short\r\n")
	if b, err := io.ReadAll(io.NewSectionReader(in, 0, 1<<20)); err != nil || string(b) != "short\r\n" {
		t.Fatalf("ReadAt on a reused file: %q, %v", b, err)
	}
	in.Abort()
	enqueue(t, q, long, "a@a.example") // recycles the file once more
	waitFor(t, "second delivery", func() bool { return q.Len() == 0 })
	tr.block = make(chan struct{}) // the next message stays queued
	id := enqueue(t, q, "short\r\n", "b@a.example")
	if free, _ := filepath.Glob(filepath.Join(dir, "*.free")); len(free) != 0 {
		t.Fatalf("the spool file was not reused: %v", free)
	}
	env, err := readTrailer(filepath.Join(dir, id+".msg"), id)
	if err != nil || env.Size != 7 {
		t.Fatalf("trailer of the reused file: %v %+v", err, env)
	}
	q.Close()
	tr.block = nil

	q2, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}})
	if err != nil {
		t.Fatal(err)
	}
	q2.Start()
	defer q2.Close()
	waitFor(t, "delivery after restart", func() bool { return q2.Len() == 0 })
	if got, _ := tr.get("b@a.example"); got != "short\r\n" {
		t.Errorf("delivered %q", got)
	}
	if got, _ := tr.get("a@a.example"); got != long {
		t.Errorf("first message delivered as %d bytes", len(got))
	}
}

// TestDeferredKeepsDataIntact: after a deferred attempt the message has
// both files; the next attempt still sends exactly the data, never the
// trailer, and the offline spool shows the state of ID.env.
func TestDeferredKeepsDataIntact(t *testing.T) {
	dir := t.TempDir()
	tr := newScripted()
	tr.replies["r@a.example"] = []deliver.Result{{Rcpt: "r@a.example", Code: 451, Text: "later"}}
	q, err := Open(Options{Dir: dir, Router: domainRouter{"a.example": tr}, RetryMin: 1, RetryMax: 1})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	id := enqueue(t, q, "Subject: x\r\n\r\nbody\r\n", "r@a.example")
	waitFor(t, "delivery", func() bool { return q.Len() == 0 })
	q.Close()
	if got, _ := tr.get("r@a.example"); got != "Subject: x\r\n\r\nbody\r\n" {
		t.Errorf("delivered %q", got)
	}
	if f := files(t, dir); len(f) != 0 {
		t.Errorf("files left after %s: %v", id, f)
	}
}

func mustEncode(t *testing.T, env *Envelope) []byte {
	t.Helper()
	b, err := encodeEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
