package deliver

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mta/config"
)

func newMaildirT(t *testing.T) (Transport, string) {
	t.Helper()
	dir := t.TempDir()
	tr, err := New(config.Delivery{Method: config.DeliverMaildir, Path: "{data_dir}/mail/{domain}/{local}"},
		Options{Hostname: "mx:1/test", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, dir
}

func TestMaildirLayoutAndContent(t *testing.T) {
	tr, dir := newMaildirT(t)
	rcpts := []string{"Bob@Example.NET", "carol@example.net"}
	res := tr.Deliver(context.Background(), testMessage(testBody), rcpts)
	checkResults(t, res, rcpts, []expect{wantOK, wantOK})

	for _, rc := range rcpts {
		local, domain, _ := splitAddress(strings.ToLower(rc))
		md := filepath.Join(dir, "mail", domain, local)
		for _, sub := range []string{"tmp", "new", "cur"} {
			fi, err := os.Stat(filepath.Join(md, sub))
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o700 {
				t.Errorf("%s/%s mode %v, want 0700", md, sub, perm)
			}
		}
		if left, _ := os.ReadDir(filepath.Join(md, "tmp")); len(left) != 0 {
			t.Errorf("tmp/ not empty: %v", left)
		}
		files, err := os.ReadDir(filepath.Join(md, "new"))
		if err != nil || len(files) != 1 {
			t.Fatalf("new/ holds %v (%v), want one file", files, err)
		}
		name := files[0].Name()
		if !strings.HasSuffix(name, `.mx\0721\057test`) || strings.Count(name, ".") < 2 {
			t.Errorf("file name %q does not follow time.unique.host with escaped host", name)
		}
		got, err := os.ReadFile(filepath.Join(md, "new", name))
		if err != nil {
			t.Fatal(err)
		}
		want := "Return-Path: <a@example.org>\r\nDelivered-To: " + rc + "\r\n" + testBody
		if string(got) != want {
			t.Errorf("content:\n%q\nwant\n%q", got, want)
		}
	}
}

func TestMaildirNullSender(t *testing.T) {
	tr, dir := newMaildirT(t)
	msg := testMessage(testBody)
	msg.From = ""
	res := tr.Deliver(context.Background(), msg, []string{"bob@example.net"})
	checkResults(t, res, []string{"bob@example.net"}, []expect{wantOK})
	files, _ := filepath.Glob(filepath.Join(dir, "mail", "example.net", "bob", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("files: %v", files)
	}
	got, _ := os.ReadFile(files[0])
	if !strings.HasPrefix(string(got), "Return-Path: <>\r\n") {
		t.Errorf("null sender written as %q", got[:40])
	}
}

func TestMaildirRefusesPathEscape(t *testing.T) {
	for _, rcpt := range []string{
		"../evil@example.net",
		"a/b@example.net",
		`a\b@example.net`,
		".hidden@example.net",
		"a..b@example.net",
		"a\x00b@example.net",
		"bob@../example.net",
		"bob@ex/ample.net",
		"no-domain",
		"@example.net",
	} {
		t.Run(rcpt, func(t *testing.T) {
			tr, dir := newMaildirT(t)
			res := tr.Deliver(context.Background(), testMessage(testBody), []string{rcpt})
			if len(res) != 1 || !res[0].Permanent || res[0].Code != 550 || res[0].Enhanced != "5.1.3" {
				t.Fatalf("got %v, want permanent 550 5.1.3", res)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Errorf("something was created: %v", entries)
			}
		})
	}
}

func TestMaildirOpenFailureIsTemporary(t *testing.T) {
	tr, _ := newMaildirT(t)
	msg := testMessage(testBody)
	msg.Open = func() (io.ReadCloser, error) { return nil, os.ErrNotExist }
	res := tr.Deliver(context.Background(), msg, []string{"bob@example.net"})
	if classOf(res[0]) != wantTemp || res[0].Code != 451 {
		t.Fatalf("got %v, want temporary 451", res[0])
	}
}
