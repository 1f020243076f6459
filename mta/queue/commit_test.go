package queue

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestGroupCommitConcurrent commits many messages at once and checks that
// each one that was acknowledged is complete on disk and survives a
// restart, whichever round it was batched into.
func TestGroupCommitConcurrent(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(Options{Dir: dir, Router: domainRouter{"sink.test": newScripted()}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			in, err := q.NewMessage()
			if err != nil {
				t.Error(err)
				return
			}
			in.Write(benchBody)
			if err := q.Commit(in, &Envelope{From: "a@example.com", Recipients: []*Recipient{{Addr: "r@sink.test"}}}); err != nil {
				t.Error(err)
				return
			}
			ids[i] = in.ID
		})
	}
	wg.Wait()
	q.Close()
	if q.commits.busy || len(q.commits.pending) != 0 {
		t.Fatalf("committer left busy=%v pending=%d", q.commits.busy, len(q.commits.pending))
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	q2, err := Open(Options{Dir: dir, Router: domainRouter{"sink.test": newScripted()}})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	if q2.Len() != n {
		t.Fatalf("recovered %d messages, want %d", q2.Len(), n)
	}
	for _, id := range ids {
		// The data, then the envelope trailer (spoolfile.go).
		path := filepath.Join(dir, id+".msg")
		env, err := readTrailer(path, id)
		if err != nil {
			t.Errorf("message %s: %v", id, err)
			continue
		}
		rc, err := OpenData(path, env.Size)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != string(benchBody) {
			t.Errorf("message %s: %d bytes, %v", id, len(b), err)
		}
	}
}

// TestGroupCommitFailure: when the round fails, Commit reports it and
// leaves neither the envelope nor the data behind.
func TestGroupCommitFailure(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(Options{Dir: dir, Router: domainRouter{"sink.test": newScripted()}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	in, err := q.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	in.Write(benchBody)
	in.f.Close() // the fsync of the data file will fail
	if err := q.Commit(in, &Envelope{Recipients: []*Recipient{{Addr: "r@sink.test"}}}); err == nil {
		t.Fatal("commit of an unsyncable message succeeded")
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		if e.Name() != ".lock" && filepath.Ext(e.Name()) != ".lock" {
			t.Errorf("file left after a failed commit: %s", e.Name())
		}
	}
	if q.Len() != 0 {
		t.Errorf("Len = %d after a failed commit", q.Len())
	}
}

func TestIncomingReadFrom(t *testing.T) {
	q, err := Open(Options{Dir: t.TempDir(), Router: domainRouter{"sink.test": newScripted()}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	in, err := q.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Abort()
	in.Write([]byte("Received: x\r\n"))
	body := strings.Repeat(string(benchBody), 20) // several buffers' worth
	n, err := io.Copy(in, strings.NewReader(body))
	if err != nil || n != int64(len(body)) {
		t.Fatalf("copied %d, %v", n, err)
	}
	if want := int64(len("Received: x\r\n") + len(body)); in.Size() != want {
		t.Errorf("Size = %d, want %d", in.Size(), want)
	}
	got := make([]byte, in.Size())
	if _, err := in.ReadAt(got, 0); err != nil || string(got) != "Received: x\r\n"+body {
		t.Errorf("spooled data differs (%v)", err)
	}
}
