package smtpd_test

import (
	"context"
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
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/deliver"
	"github.com/sluice-mail/sluice/mta/queue"
	"github.com/sluice-mail/sluice/mta/routing"
	"github.com/sluice-mail/sluice/mta/smtpd"
	"github.com/sluice-mail/sluice/mta/tlsutil"
	"github.com/sluice-mail/sluice/plugin"
)

// sink is a go-smtp (or LMTP) server that records what it receives.
type sink struct {
	addr string
	lmtp bool
	// rcptErr, if set, decides per recipient (SMTP: at RCPT; LMTP: after DATA).
	rcptErr func(rcpt string) error

	mu   sync.Mutex
	msgs []sinkMsg
}

type sinkMsg struct {
	From  string
	Rcpts []string
	Data  string
}

func startSink(t testing.TB, lmtp bool, rcptErr func(string) error) *sink {
	t.Helper()
	s := &sink{lmtp: lmtp, rcptErr: rcptErr}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "sink.test"
	srv.LMTP = lmtp
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *sink) messages() []sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMsg(nil), s.msgs...)
}

// waitMessages waits until the sink holds n messages.
func (s *sink) waitMessages(t testing.TB, n int) []sinkMsg {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := s.messages()
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
	s     *sink
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
	ss.s.msgs = append(ss.s.msgs, sinkMsg{From: ss.from, Rcpts: ss.rcpts, Data: string(b)})
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
		ss.s.msgs = append(ss.s.msgs, sinkMsg{From: ss.from, Rcpts: ok, Data: string(b)})
		ss.s.mu.Unlock()
	}
	return nil
}

// relay is a running sluice front end, queue and delivery, in-process.
type relay struct {
	cfg     *config.Config
	srv     *smtpd.Server
	q       *queue.Queue
	dataDir string
	roots   *x509.CertPool
}

const (
	testUser = "alice"
	testPass = "correct horse battery staple"
)

var testHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(testPass), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRelay runs sluice with the given extra HCL (domains, limits) and four
// listeners on free loopback ports: smtp, submission, smtps, lmtp; plus
// "smtp-insecure-auth" and "lmtp-insecure-auth" that allow AUTH without TLS.
func startRelay(t testing.TB, extra string) *relay {
	t.Helper()
	dir := t.TempDir()
	src := fmt.Sprintf(`
hostname = "relay.test"
data_dir = %q
trusted_networks = []
queue {
  retry_min = "50ms"
  retry_max = "100ms"
}
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
user %q { password_hash = %q }
%s
`, dir, freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), testUser, testHash, extra)
	cfg, diags := config.Parse([]byte(src), "test.hcl", dir)
	if diags.HasErrors() {
		t.Fatalf("config: %v\n%s", diags, src)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "sluice", Level: hclog.Warn, Output: testWriter{t}})
	tlsConfig, err := tlsutil.ServerConfig("", "", dir, "relay.test")
	if err != nil {
		t.Fatal(err)
	}
	routes, err := routing.New(cfg, deliver.Options{Hostname: cfg.Hostname, DataDir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "queue"), Router: routes, Logger: log,
		RetryMin: cfg.Queue.RetryMin, RetryMax: cfg.Queue.RetryMax})
	if err != nil {
		t.Fatal(err)
	}
	var host *plugin.Host
	if len(cfg.Filters) > 0 {
		host, err = plugin.NewHost(t.Context(), cfg.Filters, plugin.HostOptions{DataDir: dir, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { host.Close(context.Background()) })
	}
	srv, err := smtpd.New(smtpd.Options{Config: cfg, Queue: q, Routes: routes, TLS: tlsConfig, Logger: log, Plugins: host})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	q.Start()
	srv.Serve()
	t.Cleanup(func() {
		srv.Shutdown(t.Context())
		q.Close()
		routes.Close()
	})
	pem, err := os.ReadFile(filepath.Join(dir, tlsutil.SelfSignedCert))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return &relay{cfg: cfg, srv: srv, q: q, dataDir: dir, roots: roots}
}

func (r *relay) addr(listener string) string { return r.srv.Addr(listener).String() }

func (r *relay) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: r.roots, ServerName: "relay.test"}
}

// testWriter sends log output to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// rawConn is a line-level client for dialogs go-smtp's client will not
// produce (HELO, bare LF, pipelined garbage).
type rawConn struct {
	t  *testing.T
	c  net.Conn
	tp *textproto.Conn
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{t: t, c: c, tp: textproto.NewConn(c)}
	rc.expect(220)
	return rc
}

// cmd sends a line and checks the reply code; it returns the reply text.
func (rc *rawConn) cmd(line string, code int) string {
	rc.t.Helper()
	if err := rc.tp.PrintfLine("%s", line); err != nil {
		rc.t.Fatal(err)
	}
	return rc.expect(code)
}

func (rc *rawConn) expect(code int) string {
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

// startTLS upgrades the dialog after a STARTTLS command.
func (rc *rawConn) startTLS(cfg *tls.Config) {
	rc.t.Helper()
	rc.cmd("STARTTLS", 220)
	tc := tls.Client(rc.c, cfg)
	if err := tc.Handshake(); err != nil {
		rc.t.Fatal(err)
	}
	rc.c = tc
	rc.tp = textproto.NewConn(tc)
}

// send writes raw bytes (for DATA content with deliberate line endings).
func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}
