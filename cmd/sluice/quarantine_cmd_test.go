package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mta/control"
	"github.com/sluice-mail/sluice/mta/queue"
)

func quarantineMessage(t *testing.T, q *queue.Queue, subject string) string {
	t.Helper()
	in, err := q.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, "Subject: "+subject+"\r\n\r\nbody\r\n")
	env := &queue.Envelope{From: "alice@example.com", Recipients: []*queue.Recipient{{Addr: "bob@example.org", State: queue.StateQueued}}}
	if err := q.Quarantine(in, env); err != nil {
		t.Fatal(err)
	}
	return env.ID
}

func TestQuarantineCommandOffline(t *testing.T) {
	cfg, dataDir := queueEnv(t)
	q := openQueue(t, dataDir)
	keep := quarantineMessage(t, q, "suspicious")
	drop := quarantineMessage(t, q, "junk")
	q.Close()

	code, out, errs := sluice(t, "quarantine", "-config", cfg, "list")
	if code != 0 || !strings.Contains(out, keep) || !strings.Contains(out, drop) {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	if code, out, _ = sluice(t, "quarantine", "show", keep, "-config", cfg); code != 0 || !strings.Contains(out, "Subject: suspicious") {
		t.Fatalf("show: %d %q", code, out)
	}
	if code, _, errs = sluice(t, "quarantine", "-config", cfg, "delete", drop); code != 0 {
		t.Fatalf("delete: %d %q", code, errs)
	}
	if code, _, errs = sluice(t, "quarantine", "-config", cfg, "release", keep); code != 0 {
		t.Fatalf("release: %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "queue", keep+".env")); err != nil {
		t.Errorf("released message not in the spool: %v", err)
	}
	if code, out, _ = sluice(t, "quarantine", "-config", cfg, "list"); code != 0 || out != "No message is quarantined.\n" {
		t.Errorf("quarantine not empty: %q", out)
	}
	if code, _, errs = sluice(t, "quarantine", "-config", cfg, "show", "nosuchid123"); code == 0 || !strings.Contains(errs, "no such message") {
		t.Errorf("unknown id: %d %q", code, errs)
	}
	if code, _, _ = sluice(t, "quarantine", "-config", cfg, "frobnicate"); code != 2 {
		t.Errorf("unknown op exit %d", code)
	}
}

func TestQuarantineReleaseOnline(t *testing.T) {
	cfg, dataDir := queueEnv(t)
	q := openQueue(t, dataDir)
	id := quarantineMessage(t, q, "release me")
	ctl, err := control.Listen(controlSocket(dataDir), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	go ctl.Serve()
	defer ctl.Close()
	q.Start()
	defer q.Close()
	if code, _, errs := sluice(t, "quarantine", "-config", cfg, "release", id); code != 0 {
		t.Fatalf("release: %d %q", code, errs)
	}
	if q.Len() != 1 {
		t.Errorf("running queue has %d messages, want the released one", q.Len())
	}
}

// A data_dir no server has run with is an error, as for queue list, not an
// empty quarantine.
func TestQuarantineCommandNoDataDir(t *testing.T) {
	cfg, _ := queueEnv(t)
	for _, args := range [][]string{{"list"}, {"show", "abc"}, {"delete", "abc"}, {"release", "abc"}} {
		code, out, errs := sluice(t, append([]string{"quarantine", "-config", cfg}, args...)...)
		if code != 1 || !strings.Contains(errs, "no queue at") || out != "" {
			t.Errorf("%v without a queue directory: %d %q %q", args, code, out, errs)
		}
	}
}
