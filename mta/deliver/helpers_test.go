package deliver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testCert makes a self-signed certificate for 127.0.0.1 and localhost and
// the pool that trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// received is one message as the sink got it.
type received struct {
	From  string
	Rcpts []string
	Data  string
	UTF8  bool
	TLS   bool
	Auth  string // user that authenticated, if any
	Conn  int    // 1-based connection number
	// The DSN parameters given: RET and ENVID as "RET=..., ENVID=...",
	// and each recipient's NOTIFY and ORCPT as "NOTIFY=..., ORCPT=type;addr".
	MailDSN string
	RcptDSN map[string]string
}

// sink is a go-smtp server on loopback whose replies tests choose.
type sink struct {
	// Optional behaviour, set before start.
	rcpt     func(conn int, to string) error // nil: accept
	data     func(conn int) error            // nil: accept
	lmtp     func(rcpt string) error         // per-recipient LMTP reply
	authPass string                          // when set, AUTH PLAIN with user "u" and this password
	discard  bool                            // count messages without keeping them (benchmarks)

	mu     sync.Mutex
	conns  int
	connNo map[string]int // remote address -> 1-based connection number
	msgs   []received
}

type countingListener struct {
	net.Listener
	s *sink
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.conns++
		if l.s.connNo == nil {
			l.s.connNo = make(map[string]int)
		}
		l.s.connNo[c.RemoteAddr().String()] = l.s.conns
		l.s.mu.Unlock()
	}
	return c, err
}

func (s *sink) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *sink) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

type sinkOpts struct {
	tls     *tls.Certificate // offer STARTTLS with this certificate
	utf8    bool
	dsn     bool // offer DSN (RFC 3461)
	lmtp    bool
	network string // default tcp
	address string // default 127.0.0.1:0
}

// start runs the sink and returns its address.
func (s *sink) start(t testing.TB, o sinkOpts) string {
	t.Helper()
	// go-smtp starts a new session after STARTTLS, so connections are
	// numbered by the listener and found again by remote address.
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		n := s.connNo[c.Conn().RemoteAddr().String()]
		s.mu.Unlock()
		return &sinkSession{s: s, conn: c, n: n}, nil
	}))
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = o.utf8
	srv.EnableDSN = o.dsn
	srv.LMTP = o.lmtp
	if o.tls != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*o.tls}}
	}
	network, address := o.network, o.address
	if network == "" {
		network, address = "tcp", "127.0.0.1:0"
	}
	l, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(&countingListener{Listener: l, s: s})
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

type sinkSession struct {
	s    *sink
	conn *smtp.Conn
	n    int
	cur  received
	user string
}

func (ss *sinkSession) AuthMechanisms() []string {
	if ss.s.authPass == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "u" || pass != ss.s.authPass {
			return errors.New("bad credentials")
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *sinkSession) Reset()        { ss.cur = received{} }
func (ss *sinkSession) Logout() error { return nil }

func (ss *sinkSession) Mail(from string, opts *smtp.MailOptions) error {
	if ss.s.authPass != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.cur = received{From: from, UTF8: opts != nil && opts.UTF8, Auth: ss.user, Conn: ss.n, RcptDSN: map[string]string{}}
	_, ss.cur.TLS = ss.conn.TLSConnectionState()
	if opts != nil && (opts.Return != "" || opts.EnvelopeID != "") {
		ss.cur.MailDSN = fmt.Sprintf("RET=%s, ENVID=%s", opts.Return, opts.EnvelopeID)
	}
	return nil
}

func (ss *sinkSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if ss.s.rcpt != nil {
		if err := ss.s.rcpt(ss.n, to); err != nil {
			return err
		}
	}
	ss.cur.Rcpts = append(ss.cur.Rcpts, to)
	if opts != nil && (len(opts.Notify) > 0 || opts.OriginalRecipient != "") {
		ss.cur.RcptDSN[to] = fmt.Sprintf("NOTIFY=%v, ORCPT=%s;%s", opts.Notify, opts.OriginalRecipientType, opts.OriginalRecipient)
	}
	return nil
}

func (ss *sinkSession) read(r io.Reader) error {
	if ss.s.discard {
		_, err := io.Copy(io.Discard, r)
		ss.s.mu.Lock()
		ss.s.msgs = append(ss.s.msgs[:0], received{})
		ss.s.mu.Unlock()
		return err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cur.Data = string(b)
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.cur)
	ss.s.mu.Unlock()
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	if err := ss.read(r); err != nil {
		return err
	}
	if ss.s.data != nil {
		return ss.s.data(ss.n)
	}
	return nil
}

func (ss *sinkSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	if err := ss.read(r); err != nil {
		return err
	}
	for _, rc := range ss.cur.Rcpts {
		var err error
		if ss.s.lmtp != nil {
			err = ss.s.lmtp(rc)
		}
		status.SetStatus(rc, err)
	}
	return nil
}

func smtpErr(code int, enh smtp.EnhancedCode, text string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: text}
}

const testBody = "From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nline one\r\n.leading dot\r\n\r\nend\r\n"

func testMessage(body string) *Message {
	return &Message{
		ID:   "q1",
		From: "a@example.org",
		Size: int64(len(body)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil },
	}
}

// expect is the class of a Result a test wants.
type expect int

const (
	wantOK expect = iota
	wantTemp
	wantPerm
)

func (e expect) String() string { return [...]string{"ok", "temporary", "permanent"}[e] }

func classOf(r Result) expect {
	switch {
	case r.OK():
		return wantOK
	case r.Permanent:
		return wantPerm
	default:
		return wantTemp
	}
}

func checkResults(t *testing.T, got []Result, rcpts []string, want []expect) {
	t.Helper()
	if len(got) != len(rcpts) {
		t.Fatalf("got %d results for %d recipients: %v", len(got), len(rcpts), got)
	}
	for i := range got {
		if got[i].Rcpt != rcpts[i] {
			t.Errorf("result %d is for %q, want %q", i, got[i].Rcpt, rcpts[i])
		}
		if c := classOf(got[i]); c != want[i] {
			t.Errorf("%s: got %v (%s), want %v", rcpts[i], c, got[i], want[i])
		}
	}
}

// scripted runs a hand-written peer for hostile behaviour on loopback.
func scripted(t *testing.T, script func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				script(c)
			}()
		}
	}()
	return l.Addr().String()
}
