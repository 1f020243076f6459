package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/internal/wasmtest"
)

// logBuffer captures log output safely from many goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// behave returns a filter definition for the test plugin with a config.
func behave(t testing.TB, name string, conf any, mod func(*FilterSpec)) FilterSpec {
	t.Helper()
	js, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	f := FilterSpec{Name: name, Wasm: wasmtest.Build(t, "plugin/testdata/behave"), ConfigJSON: js, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&f)
	}
	return f
}

type testHost struct {
	*Host
	logs *logBuffer
	dir  string
}

func newTestHost(t testing.TB, filters ...FilterSpec) *testHost {
	t.Helper()
	logs := &logBuffer{}
	dir := t.TempDir()
	shareCompilationCache(t, dir)
	h, err := NewHost(context.Background(), filters, HostOptions{
		DataDir: dir,
		Logger:  hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return &testHost{Host: h, logs: logs, dir: dir}
}

func (h *testHost) chain(t testing.TB, names ...string) *Chain {
	t.Helper()
	c, err := h.Chain(names)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testSession() *Session {
	return &Session{ID: "s1", ClientIP: netip.MustParseAddr("192.0.2.7"), ClientPort: 4321, Listener: "mx", ListenerKind: "smtp",
		TLS: true, TLSVersion: "TLS1.3", Helo: "client.example", HeloExtended: true, AuthUser: "alice"}
}

func testTxn() *Txn {
	return &Txn{Session: testSession(), QueueID: "q1", From: "bob@example.org", MailParams: map[string]string{"BODY": "8BITMIME"},
		Recipients: []Recipient{{Addr: "alice@example.com"}, {Addr: "carol@example.com"}}}
}

const simpleMsg = "From: bob@example.org\r\nTo: alice@example.com\r\nSubject: hello\r\nReceived: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nHi Alice,\r\nthis is the body.\r\n"

func testMessage(t testing.TB, raw string) *Message {
	t.Helper()
	m, err := ReadMessage(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSmoke(t *testing.T) {
	h := newTestHost(t, behave(t, "pass", map[string]any{}, nil))
	c := h.chain(t, "pass")
	if v := c.Mail(context.Background(), testTxn()); v.Action != Continue {
		t.Fatalf("verdict %+v", v)
	}
	v, ch := c.Data(context.Background(), testTxn(), testMessage(t, simpleMsg))
	if v.Action != Continue || !ch.Empty() {
		t.Fatalf("verdict %+v changes %+v", v, ch)
	}
}

// shareCompilationCache points dir/wasm-cache at one cache shared by every
// test, so each test does not pay the optimizing compiler again.
func shareCompilationCache(t testing.TB, dataDir string) {
	t.Helper()
	if err := os.Symlink(wasmtest.CompileCacheDir(), filepath.Join(dataDir, "wasm-cache")); err != nil {
		t.Fatal(err)
	}
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
