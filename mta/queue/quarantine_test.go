package queue

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func quarantineOne(t *testing.T, q *Queue, body string) string {
	t.Helper()
	in, err := q.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, body)
	env := &Envelope{From: "s@example.com", Recipients: []*Recipient{{Addr: "x@a.example", State: StateQueued}}}
	if err := q.Quarantine(in, env); err != nil {
		t.Fatal(err)
	}
	return env.ID
}

func TestQuarantineReleaseOnline(t *testing.T) {
	dir := t.TempDir()
	tr := newScripted()
	q, err := Open(Options{Dir: filepath.Join(dir, "queue"), Router: domainRouter{"a.example": tr}})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	defer q.Close()
	id := quarantineOne(t, q, "Subject: held\r\n\r\nbody\r\n")
	if q.Len() != 0 {
		t.Fatal("quarantined message was queued")
	}
	list, err := ListQuarantine(q.QuarantineDir())
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("list: %v %v", list, err)
	}
	d, err := ShowQuarantined(q.QuarantineDir(), id)
	if err != nil || !strings.Contains(d.Header, "Subject: held") {
		t.Fatalf("show: %+v %v", d, err)
	}
	if _, ok := tr.get("x@a.example"); ok {
		t.Fatal("quarantined message delivered")
	}
	if err := q.ReleaseQuarantined(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool { b, ok := tr.get("x@a.example"); return ok && b == "Subject: held\r\n\r\nbody\r\n" })
	if list, _ := ListQuarantine(q.QuarantineDir()); len(list) != 0 {
		t.Errorf("still quarantined: %v", list)
	}
	if err := q.ReleaseQuarantined(id); err != ErrNotFound {
		t.Errorf("second release: %v", err)
	}
}

func TestQuarantineOfflineReleaseAndDelete(t *testing.T) {
	dir := t.TempDir()
	qdir := filepath.Join(dir, "queue")
	tr := newScripted()
	q, _ := Open(Options{Dir: qdir, Router: domainRouter{"a.example": tr}})
	keep := quarantineOne(t, q, "Subject: release me\r\n\r\nx\r\n")
	drop := quarantineOne(t, q, "Subject: delete me\r\n\r\ny\r\n")
	qq := q.QuarantineDir()
	q.Close()

	if err := DeleteQuarantined(qq, drop); err != nil {
		t.Fatal(err)
	}
	if err := DeleteQuarantined(qq, "../../etc/passwd"); err != ErrNotFound {
		t.Errorf("bad id: %v", err)
	}
	s, err := OpenSpool(qdir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseQuarantined(qq, keep); err != nil {
		t.Fatal(err)
	}
	s.Close()
	q2, err := Open(Options{Dir: qdir, Router: domainRouter{"a.example": tr}})
	if err != nil {
		t.Fatal(err)
	}
	q2.Start()
	defer q2.Close()
	waitFor(t, "delivery after start", func() bool { _, ok := tr.get("x@a.example"); return ok })
	if list, _ := ListQuarantine(qq); len(list) != 0 {
		t.Errorf("quarantine not empty: %v", list)
	}
}
