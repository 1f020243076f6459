package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/plugin"
	"github.com/sluice-mail/sluice/plugins/spam/bayes"
)

var (
	trainSpamWords = strings.Fields("viagra cheap offer money winner click free credit loan casino pills discount prize urgent cash bonus")
	trainHamWords  = strings.Fields("meeting project report schedule review patch kernel release thanks lunch agenda notes build tests")
)

func genMessage(r *rand.Rand, words []string) string {
	var w []string
	for i := 0; i < 40; i++ {
		w = append(w, words[r.Intn(len(words))])
	}
	return fmt.Sprintf("From: s@example.org\nTo: u@example.com\nSubject: %s\nDate: Wed, 01 May 2024 10:00:00 +0000\nMessage-ID: <%d@example.org>\n\n%s\n",
		w[0], r.Int63(), strings.Join(w, " "))
}

// TestSpamTrain trains from a directory and an mbox with the command, then
// scores through the real plugin reading the store the command wrote.
func TestSpamTrain(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	src := t.TempDir()
	spamDir := filepath.Join(src, "spam", "sub")
	os.MkdirAll(spamDir, 0o755)
	for i := 0; i < 25; i++ {
		os.WriteFile(filepath.Join(spamDir, fmt.Sprint(i)), []byte(genMessage(r, trainSpamWords)), 0o644)
	}
	os.WriteFile(filepath.Join(spamDir, ".hidden"), []byte(genMessage(r, trainHamWords)), 0o644)
	var mbox strings.Builder
	for i := 0; i < 25; i++ {
		mbox.WriteString("From x@example.org Mon Jan  1 00:00:00 2024\n" + genMessage(r, trainHamWords) + "\n")
	}
	hamBox := filepath.Join(src, "ham.mbox")
	os.WriteFile(hamBox, []byte(mbox.String()), 0o644)
	dataDir := t.TempDir()

	var out, errb bytes.Buffer
	if code := run([]string{"spam", "train", "-data-dir", dataDir, "-spam", filepath.Join(src, "spam"), "-ham", hamBox}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "learned 25 spam and 25 ham; the model now holds 25 spam, 25 ham,") {
		t.Errorf("output %q", out.String())
	}
	// A second run adds to the model; -reset starts over.
	out.Reset()
	if code := run([]string{"spam", "train", "-data-dir", dataDir, "-ham", hamBox}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "holds 25 spam, 50 ham") || !strings.Contains(out.String(), "generation 2") {
		t.Fatalf("exit %d: %q %s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"spam", "train", "-data-dir", dataDir, "-reset", "-spam", filepath.Join(src, "spam"), "-ham", hamBox}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "holds 25 spam, 25 ham") {
		t.Fatalf("exit %d: %q %s", code, out.String(), errb.String())
	}

	// The plugin reads what the command wrote, in the host's kv layout.
	ctx := context.Background()
	host, err := plugin.NewHost(ctx, []plugin.FilterSpec{{Name: "spam", Wasm: wasmtest.Build(t, "plugins/spam"), Stages: []string{"data"},
		Timeout: 10 * time.Second, MemoryBytes: 64 << 20}}, plugin.HostOptions{DataDir: dataDir, CacheDir: wasmtest.CompileCacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close(ctx)
	chain, _ := host.Chain([]string{"spam"})
	status := func(raw string) string {
		raw = strings.ReplaceAll(raw, "\n", "\r\n")
		m, err := plugin.ReadMessage(strings.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		txn := &plugin.Txn{Session: &plugin.Session{ID: "t", Listener: "mx", ListenerKind: "smtp"}, From: "s@example.org",
			Recipients: []plugin.Recipient{{Addr: "u@example.com"}}}
		v, ch := chain.Data(ctx, txn, m)
		if v.Reason != "" {
			t.Fatalf("plugin failed: %s", v.Reason)
		}
		for _, h := range ch.Headers {
			if h.Name == "X-Spam-Status" {
				return h.Value
			}
		}
		return ""
	}
	if s := status(genMessage(r, trainSpamWords)); !strings.HasPrefix(s, "Yes,") || !strings.Contains(s, "BAYES_99") {
		t.Errorf("spam status %q", s)
	}
	if s := status(genMessage(r, trainHamWords)); !strings.HasPrefix(s, "No,") || !strings.Contains(s, "BAYES_00") {
		t.Errorf("ham status %q", s)
	}
	// Only the current generation's shards are left.
	kv, _ := plugin.OpenKV(dataDir, "spam")
	meta, err := bayes.ReadMeta(kvStore{kv}, func(err error) bool { return errors.Is(err, fs.ErrNotExist) })
	if err != nil || meta.Gen != 3 {
		t.Fatalf("meta %+v %v", meta, err)
	}
	files, _ := os.ReadDir(filepath.Join(dataDir, "plugin-kv", "spam"))
	if len(files) != meta.Shards+1 {
		t.Errorf("%d files in the store for %d shards", len(files), meta.Shards)
	}
}

func TestSpamTrainUsage(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{
		{"spam"}, {"spam", "learn"}, {"spam", "train"}, {"spam", "train", "-spam", "x"},
		{"spam", "train", "-spam", "x", "-data-dir", "d", "-config", "c"}, {"spam", "train", "-bogus"},
	} {
		if code := run(args, nil, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
	if code := run([]string{"spam", "train", "-data-dir", t.TempDir(), "-spam", filepath.Join(t.TempDir(), "missing")}, nil, &out, &errb); code != 1 {
		t.Errorf("missing path: exit %d", code)
	}
	cfg := filepath.Join(t.TempDir(), "sluice.hcl")
	os.WriteFile(cfg, []byte("data_dir = \""+t.TempDir()+"\"\nlistener \"smtp\" { address = \"127.0.0.1:0\" }\ndomain \"example.com\" {\n  deliver \"maildir\" {}\n}\n"), 0o644)
	errb.Reset()
	if code := run([]string{"spam", "train", "-config", cfg, "-spam", t.TempDir()}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), `no filter "spam"`) {
		t.Errorf("config without the filter: exit %d: %s", code, errb.String())
	}
}
