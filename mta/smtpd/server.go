// Package smtpd is sluice's SMTP, submission, SMTPS and LMTP front end, built
// on github.com/emersion/go-smtp.
//
// It owns the dialog: connection limits, the relay policy (no open relay),
// AUTH, protocol hygiene (bare LF, sizes, header limits), the host-written
// Received header, and the hand-off to the queue. The filter chain runs at
// each stage where the comments say "filter chain".
package smtpd

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/queue"
	"github.com/sluice-mail/sluice/mta/ratelimit"
	"github.com/sluice-mail/sluice/mta/routing"
	"github.com/sluice-mail/sluice/plugin"
)

// Options are what the front end needs from the rest of the process.
type Options struct {
	Config *config.Config
	Queue  *queue.Queue
	Routes *routing.Table
	TLS    *tls.Config // server certificate; required when any listener uses TLS
	Logger hclog.Logger
	// Filters are the domains' filter chains (NewFilters), shared with the
	// queue's delivered stage; nil when no filter is configured.
	Filters *Filters
	// Metrics, if set, is told about connections, replies and messages (metrics.go).
	Metrics Metrics
}

// Server runs every configured listener.
type Server struct {
	// cfg and routes are replaced as a whole by Reload; read them with
	// config() and routingTable() at each use, never keep them.
	cfg    atomic.Pointer[config.Config]
	routes atomic.Pointer[routing.Table]
	queue  *queue.Queue
	tls    *tls.Config
	log    hclog.Logger
	// filters are the current filter chains; a transaction holds the ones
	// it started with (acquireChains) while Reload swaps in new ones.
	filters *Filters

	ipRate, userRate *ratelimit.Limiter
	// authFailures counts wrong passwords per client address (authlimit.go).
	authFailures *ratelimit.Limiter
	disk         diskCheck
	metrics      Metrics // nil: none recorded

	listeners []*listener

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
	wg    sync.WaitGroup
}

// listener is one configured listener and its go-smtp server.
type listener struct {
	cfg  config.Listener
	ln   net.Listener
	smtp *smtp.Server
}

// New validates the options and prepares the servers; Listen opens sockets.
func New(opts Options) (*Server, error) {
	if opts.Config == nil || opts.Queue == nil || opts.Routes == nil {
		return nil, errors.New("smtpd: config, queue and routes are required")
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	filters := opts.Filters
	if filters == nil {
		filters, _ = NewFilters(opts.Config, nil) // no host: cannot fail
	}
	s := &Server{queue: opts.Queue, tls: opts.TLS,
		log: opts.Logger, perIP: map[netip.Addr]int{}, filters: filters,
		ipRate:       ratelimit.New(opts.Config.Limits.MessagesPerIPPerMinute),
		userRate:     ratelimit.New(opts.Config.Limits.MessagesPerUserPerMinute),
		authFailures: ratelimit.NewPer(opts.Config.Limits.MaxAuthFailuresPerIPPerHour, time.Hour),
		disk:         diskCheck{dir: opts.Config.DataDir}}
	s.cfg.Store(opts.Config)
	s.routes.Store(opts.Routes)
	for _, lc := range opts.Config.Listeners {
		needTLS := lc.Kind == config.KindSMTPS || lc.Kind == config.KindSubmission || lc.STARTTLS
		if needTLS && opts.TLS == nil {
			return nil, fmt.Errorf("smtpd: listener %q needs a TLS certificate", lc.Name)
		}
		s.listeners = append(s.listeners, &listener{cfg: lc})
	}
	s.metrics = opts.Metrics
	return s, nil
}

func (s *Server) config() *config.Config       { return s.cfg.Load() }
func (s *Server) routingTable() *routing.Table { return s.routes.Load() }

// Reload swaps in a new configuration, its routes and filter host without
// dropping connections or queued mail: each command reads the current
// configuration, a transaction keeps the filter chains it started with, and
// mail already queued keeps its transports. Listeners, the data directory
// and the TLS certificate are bound at start; cfg must agree with the
// running ones there (the caller checks). The returned channel closes when
// no transaction uses the previous filter chains.
func (s *Server) Reload(cfg *config.Config, routes *routing.Table, h *plugin.Host) (oldUnused <-chan struct{}, err error) {
	fc, err := newFilterChains(cfg, h)
	if err != nil {
		return nil, fmt.Errorf("smtpd: %w", err)
	}
	s.cfg.Store(cfg)
	s.routes.Store(routes)
	s.ipRate.SetRate(cfg.Limits.MessagesPerIPPerMinute)
	s.userRate.SetRate(cfg.Limits.MessagesPerUserPerMinute)
	s.authFailures.SetRate(cfg.Limits.MaxAuthFailuresPerIPPerHour)
	return s.filters.swap(fc), nil
}

// Listen opens every listener's socket.
func (s *Server) Listen() error {
	for _, l := range s.listeners {
		if l.cfg.Network == "unix" {
			// A stale socket from a previous run would make Listen fail.
			os.Remove(l.cfg.Address)
		}
		ln, err := net.Listen(l.cfg.Network, l.cfg.Address)
		if err == nil && l.cfg.Network == "unix" {
			// Local clients may relay anywhere: the socket's mode says who may connect.
			if err = os.Chmod(l.cfg.Address, l.cfg.SocketMode); err != nil {
				ln.Close()
			}
		}
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listener %q: %w", l.cfg.Name, err)
		}
		l.ln = ln
		l.smtp = s.newSMTPServer(l)
	}
	return nil
}

// Addr returns the bound address of the named listener (for tests that listen on port 0).
func (s *Server) Addr(name string) net.Addr {
	for _, l := range s.listeners {
		if l.cfg.Name == name && l.ln != nil {
			return l.ln.Addr()
		}
	}
	return nil
}

func (s *Server) newSMTPServer(l *listener) *smtp.Server {
	srv := smtp.NewServer(&backend{srv: s, l: l})
	srv.Domain = s.config().Hostname
	srv.LMTP = l.cfg.Kind == config.KindLMTP
	lim := s.config().Limits
	srv.ReadTimeout = lim.ReadTimeout
	srv.WriteTimeout = lim.WriteTimeout
	srv.MaxLineLength = lim.MaxLineLength
	srv.MaxMessageBytes = lim.MaxMessageBytes
	srv.MaxRecipients = lim.MaxRecipients
	srv.EnableSMTPUTF8 = true
	// RFC 3461: NOTIFY and ORCPT at RCPT, RET and ENVID at MAIL, kept in
	// the envelope (session.go) for mta/dsn and passed on by mta/deliver.
	srv.EnableDSN = true
	srv.ErrorLog = s.log.Named("smtp").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	switch {
	case l.cfg.Kind == config.KindSMTPS:
		// sluice terminates implicit TLS itself (see accept), so go-smtp sees
		// a plain connection: no STARTTLS to offer, and AUTH is safe.
		srv.AllowInsecureAuth = true
	case l.cfg.STARTTLS || l.cfg.Kind == config.KindSubmission:
		srv.TLSConfig = s.tls
	}
	if l.cfg.InsecureAuth {
		srv.AllowInsecureAuth = true
	}
	srv.Backend = s.metered(srv.Backend)
	return srv
}

// Serve accepts on every listener until Shutdown. It returns at once.
func (s *Server) Serve() {
	for _, l := range s.listeners {
		l := l
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := l.smtp.Serve(&limitedListener{Listener: l.ln, srv: s, l: l})
			if err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				s.log.Error("listener stopped", "listener", l.cfg.Name, "error", err)
			}
		}()
		s.log.Info("listening", "listener", l.cfg.Name, "kind", l.cfg.Kind, "address", l.ln.Addr().String())
	}
}

// Shutdown stops accepting, lets dialogs in progress finish until ctx is
// done, then closes the rest. A dialog cut short never got its 250, so the
// queue stays consistent.
func (s *Server) Shutdown(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range s.listeners {
		if l.smtp == nil {
			continue
		}
		wg.Add(1)
		go func(l *listener) {
			defer wg.Done()
			if err := l.smtp.Shutdown(ctx); err != nil {
				l.smtp.Close()
			}
		}(l)
	}
	wg.Wait()
	// go-smtp's Shutdown closes only the listeners its Serve has already
	// registered: a Serve goroutine that had not started yet would then
	// accept forever (seen in CI when a relay was stopped right after it
	// started). Closing them here ends it.
	s.closeListeners()
	s.wg.Wait()
	for _, l := range s.listeners {
		if l.cfg.Network == "unix" {
			os.Remove(l.cfg.Address)
		}
	}
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		if l.ln != nil {
			l.ln.Close()
		}
	}
}

// limitedListener enforces the connection limits and wraps each connection.
type limitedListener struct {
	net.Listener
	srv *Server
	l   *listener
}

func (ll *limitedListener) Accept() (net.Conn, error) {
	for {
		raw, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c := ll.srv.accept(ll.l, raw); c != nil {
			return c, nil
		}
	}
}

// accept admits a connection or refuses it with 421 when a limit is reached.
func (s *Server) accept(l *listener, raw net.Conn) net.Conn {
	var remote netip.AddrPort
	if tcp, ok := raw.RemoteAddr().(*net.TCPAddr); ok {
		remote = tcp.AddrPort()
	}
	ip := remote.Addr().Unmap()
	lim := s.config().Limits

	s.mu.Lock()
	var refuse string
	switch {
	case lim.MaxConnections > 0 && s.total >= lim.MaxConnections:
		refuse = "421 4.7.0 Too many connections, try again later\r\n"
	case ip.IsValid() && lim.MaxConnectionsPerIP > 0 && s.perIP[ip] >= lim.MaxConnectionsPerIP:
		refuse = "421 4.7.0 Too many connections from your address, try again later\r\n"
	default:
		s.total++
		if ip.IsValid() {
			s.perIP[ip]++
		}
	}
	s.mu.Unlock()
	if refuse != "" {
		s.metric().ConnectionRefused(l.cfg.Name, refusedLimit(refuse))
		s.log.Warn("connection refused", "listener", l.cfg.Name, "client_ip", ip.String(), "reason", strings.TrimSpace(refuse[10:]))
		go func() {
			raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if l.cfg.Kind != config.KindSMTPS {
				raw.Write([]byte(refuse))
			}
			raw.Close()
		}()
		return nil
	}
	s.metric().ConnectionOpened(l.cfg.Name)
	release := func() {
		s.metric().ConnectionClosed(l.cfg.Name)
		s.mu.Lock()
		s.total--
		if ip.IsValid() {
			if s.perIP[ip]--; s.perIP[ip] <= 0 {
				delete(s.perIP, ip)
			}
		}
		s.mu.Unlock()
	}

	state := &connState{id: newSessionID(), listener: l, remote: remote}
	var nc net.Conn = raw
	if l.cfg.Kind == config.KindSMTPS {
		tc := tls.Server(raw, s.tls)
		state.implicitTLS = tc
		nc = tc
	}
	// Bound the time to the first command, including a TLS handshake.
	if lim.ReadTimeout > 0 {
		nc.SetReadDeadline(time.Now().Add(lim.ReadTimeout))
	}
	return &trackedConn{Conn: nc, state: state, srv: s, sniffing: true, release: release, idle: l.smtp.ReadTimeout}
}

// trusted reports whether the client may relay without AUTH: it is in
// trusted_networks or on a local unix socket (whose permissions guard it).
func (s *Server) trusted(cs *connState) bool {
	return !cs.remote.IsValid() || s.config().Trusted(cs.remote.Addr().Unmap())
}

// connectCheck runs before the greeting. A non-nil reply refuses the connection.
func (s *Server) connectCheck(cs *connState) *connReply {
	fc := s.acquireChains()
	defer fc.release()
	if fc.session.Empty() {
		return nil
	}
	// Filter chain, connect stage: before go-smtp greets (it creates the
	// backend session only at HELO, so the host runs this stage itself).
	ps := cs.pluginSession()
	ps.Trusted = s.trusted(cs)
	v := fc.session.Connect(context.Background(), ps)
	s.logVerdict("connect", v, "client_ip", cs.remote.Addr().String())
	if e := verdictError(v); e != nil {
		s.metric().Rejected(cs.listener.cfg.Name, StageConnect, e.Code, [3]int(e.EnhancedCode))
		return &connReply{code: e.Code, enhanced: [3]int(e.EnhancedCode), text: e.Message}
	}
	return nil
}

// logVerdict writes one structured line for every verdict other than continue.
func (s *Server) logVerdict(stage string, v plugin.Verdict, kv ...any) {
	if v.Action == plugin.Continue {
		return
	}
	args := append([]any{"stage", stage, "filter", v.Filter, "action", v.Action.String(), "code", v.Code, "text", v.Text}, kv...)
	if v.Reason != "" {
		args = append(args, "reason", v.Reason)
	}
	s.log.Info("filter verdict", args...)
}

func newSessionID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
