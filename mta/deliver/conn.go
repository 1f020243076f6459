package deliver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mta/config"
)

// hop is one server to connect to.
type hop struct {
	network    string // "tcp" or "unix"
	address    string // host:port or socket path
	serverName string // name the certificate must carry under TLS verify; also for SNI
	lmtp       bool
}

func (h hop) String() string {
	if h.serverName != "" && !strings.HasPrefix(h.address, h.serverName+":") {
		return h.serverName + " [" + h.address + "]"
	}
	return h.address
}

// key identifies connections that can serve this hop interchangeably.
func (h hop) key() string { return h.network + "|" + h.address + "|" + h.serverName }

// local reports whether the hop is on this machine, where a password
// cannot be sniffed off the wire.
func (h hop) local() bool {
	if h.network == "unix" {
		return true
	}
	host, _, err := net.SplitHostPort(h.address)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// session is a greeted connection to a hop, ready for MAIL.
type session struct {
	c      *smtp.Client
	raw    net.Conn // closed to abort any blocked I/O
	wire   net.Conn // what c writes to (plain or TLS): message bodies go there directly (body.go)
	hop    hop
	tls    bool
	utf8   bool // the server offers SMTPUTF8
	dsn    bool // the server offers DSN (RFC 3461)
	reused bool
	// dirty is set when a transaction was begun and not ended by the reply
	// to the final dot, so RSET must precede the next MAIL (RFC 5321 §4.1.1.5).
	dirty bool
	idle  *time.Timer
}

// close ends the session politely but without waiting long for the peer.
func (s *session) close() {
	s.c.CommandTimeout = 2 * time.Second
	if s.c.Quit() != nil {
		s.c.Close()
	}
}

// dialer opens sessions under one TLS and AUTH policy.
type dialer struct {
	opts     Options
	tlsMode  config.TLSMode
	authUser string
	authPass string
}

// tlsHandshakeError marks a failed handshake, after which opportunistic TLS
// falls back to a fresh plaintext connection.
type tlsHandshakeError struct{ err error }

func (e *tlsHandshakeError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *tlsHandshakeError) Unwrap() error { return e.err }

// connect dials h and returns a session after greeting, EHLO/LHLO, STARTTLS
// and AUTH as the policy says.
func (d *dialer) connect(ctx context.Context, h hop) (*session, error) {
	mode := d.tlsMode
	if h.lmtp {
		mode = config.TLSNone
	} else if mode == "" {
		mode = config.TLSOpportunistic
	}
	s, err := d.connectMode(ctx, h, mode)
	var he *tlsHandshakeError
	if mode == config.TLSOpportunistic && errors.As(err, &he) && ctx.Err() == nil {
		// Opportunistic TLS protects only against passive listeners; a peer
		// whose TLS is broken still gets the mail in plaintext.
		d.opts.Logger.Warn("TLS handshake failed, retrying without TLS", "hop", h.String(), "error", err)
		return d.connectMode(ctx, h, config.TLSNone)
	}
	return s, err
}

func (d *dialer) connectMode(ctx context.Context, h hop, mode config.TLSMode) (*session, error) {
	nd := net.Dialer{Timeout: d.opts.DialTimeout}
	raw, err := nd.DialContext(ctx, h.network, h.address)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", h, err)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	guarded := &guardConn{Conn: raw, writeTimeout: d.opts.CommandTimeout, maxRead: maxReplyBytes}
	s, err := d.greet(ctx, guarded, h, mode)
	if err != nil {
		raw.Close()
		return nil, err
	}
	s.raw = raw
	return s, nil
}

func (d *dialer) newClient(conn net.Conn, h hop) *smtp.Client {
	var c *smtp.Client
	if h.lmtp {
		c = smtp.NewClientLMTP(conn)
	} else {
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = d.opts.CommandTimeout
	c.SubmissionTimeout = 2 * d.opts.CommandTimeout
	return c
}

func (d *dialer) greet(ctx context.Context, conn net.Conn, h hop, mode config.TLSMode) (*session, error) {
	s := &session{hop: h}
	var err error
	if mode == config.TLSNone {
		s.c, s.wire = d.newClient(conn, h), conn
		if err := s.c.Hello(d.opts.Hostname); err != nil {
			s.c.Close()
			return nil, fmt.Errorf("greeting from %s: %w", h, err)
		}
	} else {
		s.c, s.tls, s.wire, err = d.startTLS(ctx, conn, h, mode)
		if err != nil {
			return nil, err
		}
	}
	s.utf8, _ = s.c.Extension("SMTPUTF8")
	s.dsn, _ = s.c.Extension("DSN")
	if d.authUser != "" && !h.lmtp {
		if err := d.auth(s); err != nil {
			s.c.Close()
			return nil, err
		}
	}
	return s, nil
}

// startTLS runs greeting, EHLO and STARTTLS itself, because go-smtp only
// offers STARTTLS after an EHLO with a fixed name and fails outright when the
// extension is missing. The greeted (TLS or plain) connection is then handed
// to go-smtp with a replayed greeting.
func (d *dialer) startTLS(ctx context.Context, conn net.Conn, h hop, mode config.TLSMode) (*smtp.Client, bool, net.Conn, error) {
	conn.SetDeadline(time.Now().Add(d.opts.CommandTimeout))
	defer conn.SetDeadline(time.Time{})
	br := bufio.NewReader(&lineLimitReader{r: conn, max: 2000})
	tp := struct {
		*textproto.Reader
		*textproto.Writer
	}{textproto.NewReader(br), textproto.NewWriter(bufio.NewWriter(conn))}
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, false, nil, fmt.Errorf("greeting from %s: %w", h, toSMTPError(err))
	}
	offered := false
	if err := tp.PrintfLine("EHLO %s", d.opts.Hostname); err != nil {
		return nil, false, nil, fmt.Errorf("EHLO to %s: %w", h, err)
	}
	_, msg, err := tp.ReadResponse(250)
	if err != nil {
		var pe *textproto.Error
		if !errors.As(err, &pe) || pe.Code/100 != 5 {
			return nil, false, nil, fmt.Errorf("EHLO to %s: %w", h, toSMTPError(err))
		}
		// A server without EHLO has no STARTTLS either; go-smtp falls back to HELO.
	} else {
		for _, line := range strings.Split(msg, "\n")[1:] {
			if kw, _, _ := strings.Cut(line, " "); strings.EqualFold(kw, "STARTTLS") {
				offered = true
			}
		}
	}
	if offered {
		if err := tp.PrintfLine("STARTTLS"); err != nil {
			return nil, false, nil, fmt.Errorf("STARTTLS to %s: %w", h, err)
		}
		_, _, err := tp.ReadResponse(220)
		if err != nil {
			var pe *textproto.Error
			if !errors.As(err, &pe) || mode != config.TLSOpportunistic {
				return nil, false, nil, fmt.Errorf("STARTTLS to %s: %w", h, toSMTPError(err))
			}
			offered = false // refused with a reply: the session goes on in plaintext
		} else if br.Buffered() > 0 {
			// Anything sent before the handshake could be injected by an
			// attacker and must not be read as coming over TLS.
			return nil, false, nil, fmt.Errorf("STARTTLS to %s: data received before TLS handshake", h)
		}
	}
	if !offered {
		if mode != config.TLSOpportunistic {
			return nil, false, nil, localErr(451, "4.7.10", "TLS is required but %s does not offer STARTTLS", h)
		}
		gc := &greetedConn{Conn: conn}
		c := d.newClient(gc, h)
		if err := c.Hello(d.opts.Hostname); err != nil {
			c.Close()
			return nil, false, nil, fmt.Errorf("EHLO to %s: %w", h, err)
		}
		return c, false, gc, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: d.opts.RootCAs}
	if ip := net.ParseIP(h.serverName); ip == nil {
		cfg.ServerName = h.serverName // SNI only carries names
	}
	if mode == config.TLSVerify {
		cfg.ServerName = h.serverName
	} else {
		// Opportunistic and required TLS encrypt against passive listeners
		// without authenticating the peer, like most MTAs do.
		cfg.InsecureSkipVerify = true
	}
	tc := tls.Client(conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, d.opts.DialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		if mode == config.TLSOpportunistic {
			return nil, false, nil, &tlsHandshakeError{err}
		}
		return nil, false, nil, fmt.Errorf("TLS with %s: %w", h, err)
	}
	gc := &greetedConn{Conn: tc}
	c := d.newClient(gc, h)
	if err := c.Hello(d.opts.Hostname); err != nil {
		c.Close()
		return nil, false, nil, fmt.Errorf("EHLO to %s over TLS: %w", h, err)
	}
	return c, true, gc, nil
}

// auth authenticates with AUTH PLAIN (RFC 4954), never sending the
// password in the clear to a remote host.
func (d *dialer) auth(s *session) error {
	if !s.tls && !s.hop.local() {
		return localErr(451, "4.7.10", "refusing to send credentials to %s without TLS", s.hop)
	}
	if !s.c.SupportsAuth("PLAIN") {
		return localErr(451, "4.7.4", "%s does not offer AUTH PLAIN", s.hop)
	}
	if err := s.c.Auth(sasl.NewPlainClient("", d.authUser, d.authPass)); err != nil {
		// A rejected password is a configuration problem the operator can fix,
		// so mail waits instead of bouncing (like Postfix's soft bounce).
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return localErr(454, "4.7.0", "authentication to %s failed: %d %s", s.hop, se.Code, cleanText(se.Message))
		}
		return fmt.Errorf("AUTH to %s: %w", s.hop, err)
	}
	return nil
}

// toSMTPError turns textproto's reply error into go-smtp's, so that
// classification sees one type.
func toSMTPError(err error) error {
	var pe *textproto.Error
	if !errors.As(err, &pe) {
		return err
	}
	se := &smtp.SMTPError{Code: pe.Code, Message: pe.Msg}
	if first, rest, ok := strings.Cut(pe.Msg, " "); ok && isEnhanced(first) {
		var e smtp.EnhancedCode
		fmt.Sscanf(first, "%d.%d.%d", &e[0], &e[1], &e[2])
		se.EnhancedCode, se.Message = e, rest
	}
	return se
}

// greetedConn replays a greeting so that go-smtp, which insists on reading
// one, can take over a connection whose greeting was already consumed.
type greetedConn struct {
	net.Conn
	replayed int
}

const replayGreeting = "220 greeting already received\r\n"

func (g *greetedConn) Read(p []byte) (int, error) {
	if g.replayed < len(replayGreeting) {
		n := copy(p, replayGreeting[g.replayed:])
		g.replayed += n
		return n, nil
	}
	return g.Conn.Read(p)
}

// maxReplyBytes bounds what a peer may send between two of our writes: no
// reply, even a long multi-line EHLO or a certificate chain, comes near it.
const maxReplyBytes = 1 << 20

var errReplyTooLong = errors.New("peer sent more than 1 MiB without being asked")

// guardConn protects against a hostile peer: endless replies would grow
// memory (textproto collects multi-line replies) and a peer that stops
// reading would block the body forever (go-smtp sets no deadline there).
type guardConn struct {
	net.Conn
	writeTimeout time.Duration
	maxRead      int
	read         int
}

func (g *guardConn) Read(p []byte) (int, error) {
	if g.read >= g.maxRead {
		return 0, errReplyTooLong
	}
	if len(p) > g.maxRead-g.read {
		p = p[:g.maxRead-g.read]
	}
	n, err := g.Conn.Read(p)
	g.read += n
	return n, err
}

func (g *guardConn) Write(p []byte) (int, error) {
	g.read = 0
	if g.writeTimeout > 0 {
		g.Conn.SetWriteDeadline(time.Now().Add(g.writeTimeout))
	}
	return g.Conn.Write(p)
}

// lineLimitReader fails a line longer than max bytes (RFC 5321 §4.5.3.1.5
// allows 512 for replies; go-smtp allows 2000 after the handoff).
type lineLimitReader struct {
	r    interface{ Read([]byte) (int, error) }
	max  int
	line int
}

func (l *lineLimitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			l.line = 0
		} else if l.line++; l.line > l.max {
			return 0, errors.New("reply line too long")
		}
	}
	return n, err
}
