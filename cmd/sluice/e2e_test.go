package main

// End-to-end tests: they build the real sluice binary once and run it as a
// separate process, the way an operator does, and talk to it over loopback
// with go-smtp (and swaks for the README's flow). They cover what unit tests
// cannot: crash recovery after kill -9, graceful shutdown on SIGTERM, the
// subcommands' exit codes and output, and the embedded default config.
//
// No assertion is about how long something takes: every wait polls with a
// generous deadline that only bounds a hung test.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
)

// deadline bounds every wait for the process: long enough for a loaded CI
// machine running the race detector (a check-config that compiles a plugin
// cold took 17 s alone and over 30 s in a full run), short enough to report
// a hang.
const deadline = 2 * time.Minute

var (
	binDir   string // removed by TestMain
	buildMu  sync.Mutex
	binPath  string
	buildErr error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// sluiceBinary builds ./cmd/sluice once per test binary, with the race
// detector when the tests themselves run with it, so that a data race in the
// running relay shows up too (see checkOutput).
func sluiceBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary; skipped with -short")
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if binPath == "" && buildErr == nil {
		binPath, buildErr = build()
	}
	if buildErr != nil {
		t.Fatalf("building sluice: %v", buildErr)
	}
	return binPath
}

func build() (string, error) {
	dir, err := os.MkdirTemp("", "sluice-e2e-")
	if err != nil {
		return "", err
	}
	binDir = dir
	out := filepath.Join(dir, "sluice")
	args := []string{"build", "-o", out}
	if raceEnabled() {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, b)
	}
	return out, nil
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// lockedBuffer collects the process's stdout and stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is one running "sluice serve".
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
	err    error // from Wait, valid once exited is closed
}

// startSluice runs the binary with args in dir. The process is killed at
// the end of the test if it is still running, and its output is logged if
// the test failed.
func startSluice(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, out: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(sluiceBinary(t), args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting sluice: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		p.checkOutput()
		if t.Failed() {
			t.Logf("sluice %s output:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// checkOutput fails the test if the race detector reported anything.
func (p *proc) checkOutput() {
	if strings.Contains(p.out.String(), "WARNING: DATA RACE") {
		p.t.Errorf("the race detector reported a data race in sluice")
	}
}

// waitListening polls until addr accepts connections and the process has
// logged that it listens there, failing early if the process exits.
func (p *proc) waitListening(addr string) {
	p.t.Helper()
	end := time.Now().Add(deadline)
	for {
		select {
		case <-p.exited:
			p.t.Fatalf("sluice exited before listening on %s: %v\n%s", addr, p.err, p.out.String())
		default:
		}
		// Our own process must say it listens there: on a shared machine
		// another program may hold the port for a moment.
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			if strings.Contains(p.out.String(), "address="+addr) {
				return
			}
		}
		if time.Now().After(end) {
			p.t.Fatalf("sluice is not listening on %s: %v\n%s", addr, err, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signal sends sig and waits for the process to exit; it returns the exit
// code (-1 when killed by a signal).
func (p *proc) signal(sig syscall.Signal) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-p.exited:
	case <-time.After(deadline):
		p.t.Fatalf("sluice did not exit after %v\n%s", sig, p.out.String())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	}
	p.t.Fatalf("waiting for sluice: %v", p.err)
	return 0
}

// poll calls cond until it is true, failing the test after the deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeConfig writes an HCL file into dir; data_dir "./data" in it is
// relative to the file.
func writeConfig(t *testing.T, dir, src string) string {
	t.Helper()
	path := filepath.Join(dir, "sluice.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// relayConfig listens for SMTP on listen and sends mail for domain to the
// fixed next hop hop, retrying every second or two.
func relayConfig(listen, domain, hop string) string {
	return fmt.Sprintf(`hostname = "relay.e2e.test"
data_dir = "./data"
limits {
  shutdown_grace = "1s"
}
queue {
  retry_min = "1s"
  retry_max = "2s"
}
listener "smtp" {
  address = %q
}
domain %q {
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
`, listen, domain, hop)
}

var queuedAs = regexp.MustCompile(`queued as ([0-9a-z]+)`)

// send delivers one message over SMTP and returns the queue id from the 250 reply.
func send(t *testing.T, addr, from, to string, msg []byte) string {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	if err := c.Hello("client.e2e.test"); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	if err := c.Mail(from, nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	if err := c.Rcpt(to, nil); err != nil {
		t.Fatalf("RCPT: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := w.Write(msg); err != nil {
		t.Fatalf("writing data: %v", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatalf("end of data: %v", err)
	}
	m := queuedAs.FindStringSubmatch(resp.StatusText)
	if m == nil {
		t.Fatalf("250 reply %q names no queue id", resp.StatusText)
	}
	if err := c.Quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}
	return m[1]
}

// testMessage has lines that SMTP must dot-stuff and a header the relay
// must not touch; it uses CRLF throughout, as the relay requires.
var testMessage = []byte("From: <alice@sender.e2e.test>\r\n" +
	"To: <bob@kill.test>\r\n" +
	"Subject: survives kill -9\r\n" +
	"Message-ID: <e2e-1@sender.e2e.test>\r\n" +
	"\r\n" +
	"first line\r\n" +
	".a line that starts with a dot\r\n" +
	"..two dots\r\n" +
	"\r\n" +
	"Received: from a body line that only looks like a header\r\n" +
	"last line\r\n")

// queueFiles returns the names of the .msg and .env files in a queue directory.
func queueFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".msg") || strings.HasSuffix(n, ".env") {
			names = append(names, n)
		}
	}
	return names
}

// requireQueued checks that exactly message id is queued: id.msg (data and
// the envelope it was accepted with), and id.env once a failed attempt
// rewrote its state.
func requireQueued(t *testing.T, queueDir, id string) {
	t.Helper()
	got := strings.Join(queueFiles(t, queueDir), " ")
	if got != id+".msg" && got != id+".env "+id+".msg" {
		t.Fatalf("queue directory holds %q, want %q and perhaps %q", got, id+".msg", id+".env")
	}
}

// sink is a next-hop SMTP server that records what it receives.
type sink struct {
	mu   sync.Mutex
	msgs []sunk
}

type sunk struct {
	from  string
	rcpts []string
	data  []byte
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

func (s *sink) received() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.msgs...)
}

type sinkSession struct {
	sink *sink
	cur  sunk
}

func (s *sinkSession) Reset()        { s.cur = sunk{} }
func (s *sinkSession) Logout() error { return nil }
func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.cur = sunk{from: from}
	return nil
}
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.rcpts = append(s.cur.rcpts, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, s.cur)
	s.sink.mu.Unlock()
	return nil
}

// startSink serves SMTP on addr until the end of the test.
func startSink(t *testing.T, addr string) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("sink: %v", err)
	}
	s := &sink{}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.e2e.test"
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// splitReceived splits a delivered message into its first header field,
// which must be a Received field (with its continuation lines), and the rest.
func splitReceived(t *testing.T, data []byte) (received string, rest []byte) {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("Received: ")) {
		t.Fatalf("delivered message does not start with a Received field:\n%q", data)
	}
	i := 0
	for {
		nl := bytes.Index(data[i:], []byte("\r\n"))
		if nl < 0 {
			t.Fatalf("unterminated Received field:\n%q", data)
		}
		i += nl + 2
		if i >= len(data) || (data[i] != ' ' && data[i] != '\t') {
			return string(data[:i]), data[i:]
		}
	}
}

// checkDelivered checks a message that went through the relay: the
// envelope, one Received field naming the queue id on top, and then the
// client's bytes unchanged.
func checkDelivered(t *testing.T, got sunk, from, to, id string, msg []byte) {
	t.Helper()
	if got.from != from || len(got.rcpts) != 1 || got.rcpts[0] != to {
		t.Errorf("envelope: from %q rcpts %q, want from %q rcpts [%q]", got.from, got.rcpts, from, to)
	}
	received, rest := splitReceived(t, got.data)
	if !strings.Contains(received, "by relay.e2e.test (sluice)") || !strings.Contains(received, "id "+id) {
		t.Errorf("Received field does not name this relay and queue id %s:\n%s", id, received)
	}
	if !bytes.Equal(rest, msg) {
		t.Errorf("message after the Received field differs\n got %q\nwant %q", rest, msg)
	}
}

// TestKillRecovery: a message acknowledged with 250 survives SIGKILL while
// its next hop is down, and is delivered exactly once after a restart.
func TestKillRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, hop := relaytest.FreeAddr(t), relaytest.FreeAddr(t)
	cfg := writeConfig(t, dir, relayConfig(listen, "kill.test", hop))
	queueDir := filepath.Join(dir, "data", "queue")
	const from, to = "alice@sender.e2e.test", "bob@kill.test"

	p := startSluice(t, dir, "serve", "-config", cfg)
	p.waitListening(listen)
	id := send(t, listen, from, to, testMessage)
	// The next hop is down: the message can only be in the queue.
	requireQueued(t, queueDir, id)
	if code := p.signal(syscall.SIGKILL); code != -1 {
		t.Fatalf("exit code after SIGKILL: %d", code)
	}
	requireQueued(t, queueDir, id)
	// The envelope: id.env if an attempt rewrote it, else the trailer of id.msg.
	env, err := os.ReadFile(filepath.Join(queueDir, id+".env"))
	if os.IsNotExist(err) {
		env, err = os.ReadFile(filepath.Join(queueDir, id+".msg"))
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(env, []byte(`"addr": "`+to+`"`)) {
		t.Errorf("envelope does not name the recipient:\n%s", env)
	}

	s := startSink(t, hop)
	p = startSluice(t, dir, "serve", "-config", cfg)
	poll(t, "the next hop received the message", func() bool { return len(s.received()) > 0 })
	poll(t, "the queue is empty", func() bool { return len(queueFiles(t, queueDir)) == 0 })
	// Once the files are gone and the process has exited, nothing can be
	// delivered again: the count below is final.
	if code := p.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM: %d", code)
	}
	got := s.received()
	if len(got) != 1 {
		t.Fatalf("next hop received %d messages, want exactly 1", len(got))
	}
	checkDelivered(t, got[0], from, to, id, testMessage)
}

// TestGracefulShutdown: SIGTERM makes sluice exit 0 even with an idle client
// connected, and a queued message is delivered by the next start.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, hop := relaytest.FreeAddr(t), relaytest.FreeAddr(t)
	cfg := writeConfig(t, dir, relayConfig(listen, "term.test", hop))
	queueDir := filepath.Join(dir, "data", "queue")
	const from, to = "alice@sender.e2e.test", "carol@term.test"

	p := startSluice(t, dir, "serve", "-config", cfg)
	p.waitListening(listen)
	id := send(t, listen, from, to, testMessage)

	// A client that greets and then says nothing must not keep sluice up
	// beyond its shutdown_grace.
	idle, err := smtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := idle.Hello("idle.e2e.test"); err != nil {
		t.Fatal(err)
	}

	if code := p.signal(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code after SIGTERM: %d", code)
	}
	if out := p.out.String(); !strings.Contains(out, "stopped") {
		t.Errorf("no \"stopped\" log line after SIGTERM:\n%s", out)
	}
	requireQueued(t, queueDir, id)

	s := startSink(t, hop)
	p = startSluice(t, dir, "serve", "-config", cfg)
	poll(t, "the next hop received the message", func() bool { return len(s.received()) > 0 })
	poll(t, "the queue is empty", func() bool { return len(queueFiles(t, queueDir)) == 0 })
	if code := p.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after the second SIGTERM: %d", code)
	}
	got := s.received()
	if len(got) != 1 {
		t.Fatalf("next hop received %d messages, want exactly 1", len(got))
	}
	checkDelivered(t, got[0], from, to, id, testMessage)
}

// readInput reads a file that only the sluice process uses, so that go
// test's result cache knows the test depends on it.
func readInput(t *testing.T, path string) {
	t.Helper()
	if _, err := os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
}

// runSluice runs a subcommand to completion and returns its exit code and output.
func runSluice(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBinary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		code = ee.ExitCode()
	default:
		t.Fatalf("sluice %s: %v\n%s", strings.Join(args, " "), err, e.String())
	}
	return code, o.String(), e.String()
}

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	t.Run("unknown attribute", func(t *testing.T) {
		readInput(t, "testdata/unknown-attribute.hcl")
		code, stdout, stderr := runSluice(t, "", "check-config", "testdata/unknown-attribute.hcl")
		if code == 0 {
			t.Fatalf("exit code 0 for a bad config; stdout:\n%s", stdout)
		}
		// The misspelt "adress" is on line 6, column 3.
		want := regexp.MustCompile(`(?m)^testdata/unknown-attribute\.hcl:6:3: Unsupported argument`)
		if !want.MatchString(stderr) {
			t.Errorf("stderr does not match %q:\n%s", want, stderr)
		}
		if strings.Contains(stdout, "OK") {
			t.Errorf("stdout claims OK:\n%s", stdout)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		code, _, stderr := runSluice(t, "", "check-config", "testdata/no-such-file.hcl")
		if code == 0 || !strings.Contains(stderr, "no-such-file.hcl") {
			t.Errorf("exit code %d, stderr:\n%s", code, stderr)
		}
	})
	t.Run("example", func(t *testing.T) {
		readInput(t, "../../examples/sluice.hcl")
		// The file alone; TestExampleConfigs loads its plugins too.
		code, stdout, stderr := runSluice(t, "", "check-config", "-plugins=false", "../../examples/sluice.hcl")
		if code != 0 {
			t.Fatalf("exit code %d for examples/sluice.hcl:\n%s", code, stderr)
		}
		if !strings.HasPrefix(stdout, "../../examples/sluice.hcl: OK\n") {
			t.Errorf("stdout:\n%s", stdout)
		}
	})
}

// TestCheckConfigLoadsPlugins: check-config loads each filter with its
// config, as serve does, so a plugin that refuses its config (here a
// rewrite loop) or a missing module fails the check with the filter named.
func TestCheckConfigLoadsPlugins(t *testing.T) {
	t.Parallel()
	wasm := wasmtest.Build(t, "plugins/rewrite")
	write := func(filters string) string {
		p := filepath.Join(t.TempDir(), "sluice.hcl")
		if err := os.WriteFile(p, []byte(fmt.Sprintf("data_dir = %q\n"+
			"listener \"smtp\" {\n  address = \"127.0.0.1:0\"\n}\n"+
			"domain \"example.com\" {\n  deliver \"maildir\" {\n    path = %q\n  }\n}\n%s", t.TempDir(), t.TempDir(), filters)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	filter := func(name, wasm, rules string) string {
		return fmt.Sprintf("filter %q {\n  wasm = %q\n  config = { recipients = [%s] }\n}\n", name, wasm, rules)
	}
	good := `{ match = "a@x.example", to = "b@x.example" }`
	loop := good + `, { match = "b@x.example", to = "a@x.example" }`
	for _, tc := range []struct {
		name, conf string
		ok         bool
		want       []string
	}{
		{"loads", filter("rw", wasm, good), true, nil},
		{"config refused", filter("rw", wasm, good) + filter("loopy", wasm, loop), false,
			[]string{`filter "loopy"`, "rewrite loop in recipients: a@x.example → b@x.example → a@x.example", "1 filter failed to load"}},
		{"missing module", filter("gone", filepath.Join(t.TempDir(), "gone.wasm"), good), false,
			[]string{`filter "gone"`, "gone.wasm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := write(tc.conf)
			code, stdout, stderr := runSluice(t, "", "check-config", file)
			if (code == 0) != tc.ok || strings.Contains(stdout, "OK") != tc.ok {
				t.Fatalf("exit code %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if !tc.ok {
				return
			}
			code, _, stderr = runSluice(t, "", "check-config", "-plugins=false", file)
			if code != 0 {
				t.Errorf("-plugins=false: exit code %d:\n%s", code, stderr)
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runSluice(t, "correct horse\n", "hash-password")
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	hash := strings.TrimSuffix(stdout, "\n")
	if strings.ContainsAny(hash, "\r\n") {
		t.Fatalf("output is not one line: %q", stdout)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse")); err != nil {
		t.Errorf("hash %q does not verify the password: %v", hash, err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse\n")); err == nil {
		t.Errorf("hash %q includes the newline", hash)
	}
}

// TestReadmeFlow follows README.md: "sluice serve" with the embedded default
// configuration, then swaks to someone@localhost, then the Maildir. The
// default ports are fixed, so the test is skipped when one is in use, and
// it is not parallel (parallel tests in this package start only after it).
func TestReadmeFlow(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Skip("swaks is not installed (.ci/run installs it)")
	}
	for _, addr := range []string{"127.0.0.1:2525", "127.0.0.1:2587", "127.0.0.1:2424"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("default port %s is in use: %v", addr, err)
		}
		ln.Close()
	}
	dir := t.TempDir()
	p := startSluice(t, dir, "serve")
	p.waitListening("127.0.0.1:2525")

	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	out, err := exec.CommandContext(ctx, swaks, "--server", "127.0.0.1:2525", "--to", "someone@localhost").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	m := queuedAs.FindSubmatch(out)
	if m == nil {
		t.Fatalf("swaks output has no \"queued as\":\n%s", out)
	}
	id := string(m[1])

	newDir := filepath.Join(dir, "sluice-data", "maildir", "someone", "new")
	var files []os.DirEntry
	poll(t, "the message is in "+newDir, func() bool {
		files, _ = os.ReadDir(newDir)
		return len(files) > 0
	})
	if len(files) != 1 {
		t.Fatalf("%s holds %d files, want 1", newDir, len(files))
	}
	data, err := os.ReadFile(filepath.Join(newDir, files[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	// The Maildir transport adds the envelope on top (RFC 5321 section 4.4).
	envHeader := "Delivered-To: someone@localhost\r\n"
	rp, afterRP, ok := bytes.Cut(data, []byte("\r\n"))
	if !ok || !bytes.HasPrefix(rp, []byte("Return-Path: <")) || !bytes.HasPrefix(afterRP, []byte(envHeader)) {
		t.Fatalf("delivered message does not start with Return-Path and %q:\n%q", envHeader, data)
	}
	received, rest := splitReceived(t, afterRP[len(envHeader):])
	for _, want := range []string{"([127.0.0.1])", "(sluice) with ESMTP", "id " + id, "for <someone@localhost>"} {
		if !strings.Contains(received, want) {
			t.Errorf("Received field lacks %q:\n%s", want, received)
		}
	}
	// swaks's default message: a header with To: and its body line.
	hdr, body, ok := bytes.Cut(rest, []byte("\r\n\r\n"))
	if !ok || !hasHeaderLine(hdr, "To: someone@localhost") || !bytes.Contains(body, []byte("This is a test mailing")) {
		t.Errorf("delivered message is not swaks's message:\n%s", rest)
	}

	if code := p.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM: %d", code)
	}
}

func hasHeaderLine(hdr []byte, line string) bool {
	sc := bufio.NewScanner(bytes.NewReader(hdr))
	for sc.Scan() {
		if strings.TrimRight(sc.Text(), "\r") == line {
			return true
		}
	}
	return false
}
