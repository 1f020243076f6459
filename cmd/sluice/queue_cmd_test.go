package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mta/control"
	"github.com/sluice-mail/sluice/mta/deliver"
	"github.com/sluice-mail/sluice/mta/queue"
)

// laterTransport defers every recipient, so messages stay queued.
type laterTransport struct{}

func (laterTransport) Deliver(_ context.Context, _ *deliver.Message, rcpts []string) []deliver.Result {
	out := make([]deliver.Result, len(rcpts))
	for i, r := range rcpts {
		out[i] = deliver.Result{Rcpt: r, Code: 451, Enhanced: "4.7.1", Text: "greylisted"}
	}
	return out
}
func (laterTransport) Close() error { return nil }

type laterRouter struct{}

func (laterRouter) Route(*queue.Recipient) (string, deliver.Transport, error) {
	return "later", laterTransport{}, nil
}

// queueEnv is a config file whose data_dir is a temporary directory.
func queueEnv(t *testing.T) (cfgPath, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	cfgPath = filepath.Join(dir, "sluice.hcl")
	src := `hostname = "mx.queue.test"
data_dir = "./data"
listener "smtp" {
  address = "127.0.0.1:0"
}
domain "localhost" {
  deliver "maildir" {
    path = "{data_dir}/maildir/{local}"
  }
}
`
	if err := os.WriteFile(cfgPath, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, filepath.Join(dir, "data")
}

func openQueue(t *testing.T, dataDir string) *queue.Queue {
	t.Helper()
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dataDir, "queue"), Router: laterRouter{}})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func addMessage(t *testing.T, q *queue.Queue) string {
	t.Helper()
	in, err := q.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, "Subject: quarterly report\r\nFrom: <alice@example.com>\r\n\r\nbody\r\n")
	env := &queue.Envelope{From: "alice@example.com", Recipients: []*queue.Recipient{{Addr: "bob@example.org"}}}
	if err := q.Commit(in, env); err != nil {
		t.Fatal(err)
	}
	return env.ID
}

// sluice runs the CLI and returns its exit code, stdout and stderr.
func sluice(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestQueueCommandOnline(t *testing.T) {
	cfg, dataDir := queueEnv(t)
	q := openQueue(t, dataDir)
	defer q.Close()
	ctl, err := control.Listen(controlSocket(dataDir), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	go ctl.Serve()
	defer ctl.Close()
	id := addMessage(t, q)

	code, out, errs := sluice(t, "queue", "-config", cfg, "list")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "<alice@example.com>") ||
		!strings.Contains(out, "queued") || !strings.Contains(out, "bob@example.org") || !strings.Contains(out, "1 message(s)") {
		t.Fatalf("list: %d\n%s%s", code, out, errs)
	}
	code, out, _ = sluice(t, "queue", "show", id, "-config", cfg)
	if code != 0 || !strings.Contains(out, "Subject: quarterly report\n") || !strings.Contains(out, "From:      <alice@example.com>") {
		t.Errorf("show: %d\n%s", code, out)
	}
	if code, out, _ = sluice(t, "queue", "-config", cfg, "hold", id); code != 0 || !strings.Contains(out, "held") {
		t.Errorf("hold: %d %s", code, out)
	}
	code, out, _ = sluice(t, "queue", "-config", cfg, "-json", "list")
	var envs []*queue.Envelope
	if err := json.Unmarshal([]byte(out), &envs); code != 0 || err != nil || len(envs) != 1 || !envs[0].Held {
		t.Errorf("json list after hold: %d %v\n%s", code, err, out)
	}
	if code, _, _ = sluice(t, "queue", "-config", cfg, "release", id); code != 0 {
		t.Errorf("release: %d", code)
	}
	if envs, _ := q.List(); envs[0].Held {
		t.Error("release did not reach the running queue")
	}
	if code, out, _ = sluice(t, "queue", "-config", cfg, "flush"); code != 0 || !strings.Contains(out, "due now") {
		t.Errorf("flush: %d %s", code, out)
	}
	code, _, errs = sluice(t, "queue", "-config", cfg, "show", "nosuchmessage0")
	if code != 1 || !strings.Contains(errs, "no such message") {
		t.Errorf("show of a missing id: %d %s", code, errs)
	}
	if code, out, _ = sluice(t, "queue", "-config", cfg, "delete", id); code != 0 || !strings.Contains(out, "deleted") {
		t.Errorf("delete: %d %s", code, out)
	}
	if q.Len() != 0 {
		t.Error("delete did not reach the running queue")
	}
	if code, out, _ = sluice(t, "queue", "-config", cfg, "list"); code != 0 || !strings.Contains(out, "empty") {
		t.Errorf("list of an empty queue: %d %s", code, out)
	}
}

func TestQueueCommandOffline(t *testing.T) {
	cfg, dataDir := queueEnv(t)
	q := openQueue(t, dataDir)
	id := addMessage(t, q)

	// A server without a control socket still owns the spool: changes are refused.
	code, _, errs := sluice(t, "queue", "-config", cfg, "hold", id)
	if code != 1 || !strings.Contains(errs, "running server") {
		t.Errorf("hold on a locked spool: %d %s", code, errs)
	}
	if code, out, _ := sluice(t, "queue", "-config", cfg, "list"); code != 0 || !strings.Contains(out, id) {
		t.Errorf("read-only list: %d %s", code, out)
	}
	q.Close()

	if code, out, errs := sluice(t, "queue", "-config", cfg, "hold", id); code != 0 || !strings.Contains(out, "held") {
		t.Fatalf("offline hold: %d %s %s", code, out, errs)
	}
	code, out, _ := sluice(t, "queue", "-config", cfg, "list")
	if code != 0 || !strings.Contains(out, "HELD") {
		t.Errorf("offline list: %d\n%s", code, out)
	}
	if code, out, _ = sluice(t, "queue", "-config", cfg, "delete", "-bounce", id); code != 0 || !strings.Contains(out, "when the server starts") {
		t.Errorf("offline delete -bounce: %d %s", code, out)
	}
	// The server's next start finishes it.
	q = openQueue(t, dataDir)
	defer q.Close()
	envs, _ := q.List()
	if len(envs) != 1 || envs[0].Held || envs[0].Recipients[0].State != queue.StateFailed {
		t.Fatalf("after offline delete -bounce: %+v", envs)
	}
	q.Start() // finishes recovered messages with no pending recipient
	if q.Len() != 0 {
		t.Errorf("%d messages left after start", q.Len())
	}
}

func TestQueueCommandUsage(t *testing.T) {
	cfg, _ := queueEnv(t)
	for _, args := range [][]string{
		{"queue"}, {"queue", "show"}, {"queue", "hold", "a", "b"}, {"queue", "explode"},
		{"queue", "-config", cfg, "list", "-bounce"}, {"queue", "-nosuchflag", "list"},
	} {
		if code, _, _ := sluice(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	// No server has ever run with this data_dir.
	if code, _, errs := sluice(t, "queue", "-config", cfg, "list"); code != 1 || !strings.Contains(errs, "no queue at") {
		t.Errorf("list without a queue directory: %d %s", code, errs)
	}
}
