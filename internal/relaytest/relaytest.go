// Package relaytest runs a real sluice relay in-process for end-to-end
// tests: listeners on free loopback ports, a durable queue in a temporary
// directory, delivery to go-smtp sinks, and line-level clients.
package relaytest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mail/sluice/internal/wasmtest"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/queue"
	"github.com/sluice-mail/sluice/mta/relay"
	"github.com/sluice-mail/sluice/mta/smtpd"
	"github.com/sluice-mail/sluice/mta/tlsutil"
)

// Sink is a go-smtp (or LMTP) server that records what it receives.
type Sink struct {
	Addr string
	lmtp bool
	// rcptErr, if set, decides per recipient (SMTP: at RCPT; LMTP: after DATA).
	rcptErr func(rcpt string) error

	mu   sync.Mutex
	msgs []Message
}

type Message struct {
	From  string
	Rcpts []string
	Data  string // the message as received, CRLF line endings
}

func StartSink(t testing.TB, lmtp bool, rcptErr func(string) error) *Sink {
	t.Helper()
	s := &Sink{lmtp: lmtp, rcptErr: rcptErr}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "sink.test"
	srv.LMTP = lmtp
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitMessages waits until the sink holds n messages.
func (s *Sink) WaitMessages(t testing.TB, n int) []Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := s.Messages()
		if len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d messages, want %d", len(m), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type sinkSession struct {
	s     *Sink
	from  string
	rcpts []string
}

func (ss *sinkSession) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !ss.s.lmtp && ss.s.rcptErr != nil {
		if err := ss.s.rcptErr(to); err != nil {
			return err
		}
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, Message{From: ss.from, Rcpts: ss.rcpts, Data: string(b)})
	ss.s.mu.Unlock()
	return nil
}
func (ss *sinkSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var ok []string
	for _, rc := range ss.rcpts {
		var e error
		if ss.s.rcptErr != nil {
			e = ss.s.rcptErr(rc)
		}
		status.SetStatus(rc, e)
		if e == nil {
			ok = append(ok, rc)
		}
	}
	if len(ok) > 0 {
		ss.s.mu.Lock()
		ss.s.msgs = append(ss.s.msgs, Message{From: ss.from, Rcpts: ok, Data: string(b)})
		ss.s.mu.Unlock()
	}
	return nil
}

// Relay is a running sluice relay, in-process, assembled by mta/relay as
// "sluice serve" assembles it.
type Relay struct {
	Cfg    *config.Config // the configuration it started with
	Server *smtpd.Server
	Queue  *queue.Queue
	// Relay is the assembly itself (Reload, Shutdown; the queue's
	// control socket and delivery status notifications are part of it).
	Relay   *relay.Relay
	DataDir string
	// LinksURL is http://ADDR of the links download server, if the extra
	// HCL has a links block.
	LinksURL string
	// MetricsURL is http://ADDR/metrics, the relay's and the filters'
	// metrics, when the extra HCL sets metrics_listen (as serve does).
	MetricsURL string
	roots      *x509.CertPool
}

const (
	User     = "alice"
	Password = "correct horse battery staple"
	// SenderDomain is User's to send from once authenticated: the
	// relay binds it to any address @SenderDomain (config.MaySendAs).
	SenderDomain = "example.com"
)

var passwordHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(Password), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// handedOut remembers the ports FreeAddr returned: the kernel may offer a
// port again once its probe listener closes, and two listeners of one test
// relay must never get the same one.
var handedOut sync.Map

// FreeAddr returns a loopback address nothing listened on a moment ago and
// that no earlier call in this process returned.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, dup := handedOut.LoadOrStore(addr, true); !dup {
			return addr
		}
	}
	t.Fatal("relaytest: no fresh loopback port after 100 tries")
	return ""
}

// StartRelay runs sluice with the given extra HCL (domains, limits) and four
// listeners on free loopback ports: smtp, submission, smtps, lmtp; plus
// "smtp-insecure-auth" and "lmtp-insecure-auth" that allow AUTH without TLS.
// Unless extra has its own queue block, retries are 50-100ms apart.
func StartRelay(t testing.TB, extra string) *Relay {
	t.Helper()
	dir := t.TempDir()
	src := fmt.Sprintf(`
hostname = "relay.test"
data_dir = %q
trusted_networks = []
%s
listener "smtp"       { address = %q }
listener "submission" { address = %q }
listener "smtps"      { address = %q }
listener "lmtp"       { address = %q }
listener "smtp-insecure-auth" {
  kind = "smtp"
  address = %q
  insecure_auth = true
}
listener "lmtp-insecure-auth" {
  kind = "lmtp"
  address = %q
  insecure_auth = true
}
user %q {
  password_hash = %q
  addresses = [%q]
}
%s
`, dir, queueBlock(extra), FreeAddr(t), FreeAddr(t), FreeAddr(t), FreeAddr(t), FreeAddr(t), FreeAddr(t), User, passwordHash, "@"+SenderDomain, extra)
	cfg, diags := config.Parse([]byte(src), "test.hcl", dir)
	if diags.HasErrors() {
		t.Fatalf("config: %v\n%s", diags, src)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "sluice", Level: hclog.Warn, Output: testWriter{t}})
	// The production assembly; what differs is only where the compiled
	// filters are cached (one directory for every test relay) and, when the
	// temporary directory is too deep for a unix socket path, where the
	// control socket listens.
	opts := relay.Options{Logger: log, CompileCacheDir: wasmtest.CompileCacheDir()}
	if len(relay.DefaultControlSocket(dir)) > maxSocketPath {
		sockDir, err := os.MkdirTemp("", "sluice-ctl")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(sockDir) })
		opts.ControlSocket = filepath.Join(sockDir, "control.sock")
	}
	rl, err := relay.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	rl.Start()
	t.Cleanup(func() { rl.Shutdown(t.Context()) })
	var linkURL, metricsURL string
	if a := rl.LinksAddr(); a != nil {
		linkURL = "http://" + a.String()
	}
	if a := rl.MetricsAddr(); a != nil {
		metricsURL = "http://" + a.String() + "/metrics"
	}
	pem, err := os.ReadFile(filepath.Join(dir, tlsutil.SelfSignedCert))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return &Relay{Cfg: cfg, Server: rl.Server(), Queue: rl.Queue(), Relay: rl, DataDir: dir, LinksURL: linkURL,
		MetricsURL: metricsURL, roots: roots}
}

// Addr is the address of the named listener.
func (r *Relay) Addr(listener string) string { return r.Server.Addr(listener).String() }

func (r *Relay) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: r.roots, ServerName: "relay.test"}
}

// queueBlock is the test queue schedule, unless extra configures the queue itself.
func queueBlock(extra string) string {
	if strings.Contains(extra, "queue {") {
		return ""
	}
	return "queue {\n  retry_min = \"50ms\"\n  retry_max = \"100ms\"\n}"
}

// maxSocketPath is the longest unix socket path every supported system
// binds (sun_path is 104 bytes on the BSDs and macOS, 108 on Linux).
const maxSocketPath = 103

// testWriter sends log output to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Conn is a line-level client for dialogs go-smtp's client will not
// produce (HELO, bare LF, pipelined garbage).
type Conn struct {
	t  testing.TB
	C  net.Conn
	tp *textproto.Conn
}

func DialRaw(t testing.TB, addr string) *Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return NewConn(t, c)
}

// NewConn is a line-level client on a connection the caller opened (for
// example with tls.Dial); it reads the greeting.
func NewConn(t testing.TB, c net.Conn) *Conn {
	t.Helper()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	rc := &Conn{t: t, C: c, tp: textproto.NewConn(c)}
	rc.Expect(220)
	return rc
}

// Cmd sends a line and checks the reply code; it returns the reply text.
func (rc *Conn) Cmd(line string, code int) string {
	rc.t.Helper()
	if err := rc.tp.PrintfLine("%s", line); err != nil {
		rc.t.Fatal(err)
	}
	return rc.Expect(code)
}

func (rc *Conn) Expect(code int) string {
	rc.t.Helper()
	got, msg, err := rc.tp.ReadResponse(0)
	if err != nil && got == 0 {
		rc.t.Fatalf("reading reply: %v", err)
	}
	if got != code {
		rc.t.Fatalf("got %d %s, want %d", got, msg, code)
	}
	return msg
}

// StartTLS upgrades the dialog after a STARTTLS command.
func (rc *Conn) StartTLS(cfg *tls.Config) {
	rc.t.Helper()
	rc.Cmd("STARTTLS", 220)
	tc := tls.Client(rc.C, cfg)
	if err := tc.Handshake(); err != nil {
		rc.t.Fatal(err)
	}
	rc.C = tc
	rc.tp = textproto.NewConn(tc)
}

// Send writes raw bytes (for DATA content with deliberate line endings).
func (rc *Conn) Send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.C, s); err != nil {
		rc.t.Fatal(err)
	}
}

// Blast sends n copies of body from `from` to rcpt through addr over
// `clients` concurrent SMTP connections, each reused for many messages, and
// returns when every 250 has come back (benchmarks wait at the sink after).
func Blast(t testing.TB, addr, from, rcpt, body string, clients, n int) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for next.Add(1) <= int64(n) {
				if err := c.SendMail(from, []string{rcpt}, strings.NewReader(body)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
