package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/queue"
	"github.com/sluice-mail/sluice/mta/routing"
	"github.com/sluice-mail/sluice/mta/trace"
	"github.com/sluice-mail/sluice/plugin"
	"github.com/sluice-mail/sluice/sdk/mailbox"
)

type backend struct {
	srv *Server
	l   *listener
}

// NewSession is called by go-smtp at the first HELO/EHLO/LHLO (and again
// after STARTTLS).
func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	cs := stateOf(c)
	if cs == nil {
		return nil, errLocalTempfail
	}
	// A new go-smtp session starts unauthenticated: after STARTTLS the
	// client must AUTH again (RFC 3207 section 4.2), as go-smtp expects.
	cs.authUser.Store(nil)
	sess := &session{srv: b.srv, conn: c, cs: cs}
	chains := b.srv.acquireChains()
	defer chains.release()
	if fc := chains.session; !fc.Empty() {
		v := fc.Helo(context.Background(), sess.pluginSession())
		b.srv.logVerdict("helo", v, "client_ip", cs.remote.Addr().String(), "helo", c.Hostname())
		if e := verdictError(v); e != nil {
			return nil, e
		}
	}
	return sess, nil
}

// session is one SMTP/LMTP session between greetings; go-smtp calls its
// methods from one goroutine.
type session struct {
	srv  *Server
	conn *smtp.Conn
	cs   *connState

	// The current transaction.
	hasFrom  bool
	from     string
	mailOpts smtp.MailOptions
	rcpts    []*queue.Recipient
	// perDomain counts recipients per domain block for its max_recipients.
	perDomain map[string]int
	// maxBytes is the smallest max_message_size of the recipients' domains.
	maxBytes int64
	// chains are the filter chains the transaction started with (from MAIL
	// to its end); chain is the filter chain of the transaction's recipients (all share
	// one, see Rcpt); chainDomain names the domain block it came from.
	chains      *filterChains
	chain       *plugin.Chain
	chainDomain string
	// discard is set when a filter said to accept and drop the transaction;
	// rcptDiscarded when one said so for a recipient (accepted, not kept).
	discard, rcptDiscarded bool
	// accepted lists, on LMTP, every RCPT answered 250, in order, for the
	// per-recipient replies after DATA (LMTPData).
	accepted []acceptedRcpt
}

// acceptedRcpt is one RCPT an LMTP client got 250 for: the address as the
// client wrote it (go-smtp keys the replies by it), the recipient it became
// (nil when a filter discarded it) and the domain block whose chain it runs.
type acceptedRcpt struct {
	addr   string
	rcpt   *queue.Recipient
	domain string
}

func (s *session) Reset() {
	s.hasFrom, s.from, s.mailOpts, s.rcpts, s.perDomain, s.maxBytes = false, "", smtp.MailOptions{}, nil, nil, 0
	s.chain, s.chainDomain, s.discard, s.rcptDiscarded, s.accepted = nil, "", false, false, nil
	s.releaseChains()
}

func (s *session) Logout() error {
	s.releaseChains()
	return nil
}

// releaseChains ends the transaction's hold on the filter chains it started with.
func (s *session) releaseChains() {
	if s.chains != nil {
		s.chains.release()
		s.chains = nil
	}
}

func (s *session) authUser() string {
	if p := s.cs.authUser.Load(); p != nil {
		return *p
	}
	return ""
}

// mustAuth is true for listeners where only authenticated users may send.
func (s *session) mustAuth() bool {
	k := s.cs.listener.cfg.Kind
	return k == config.KindSubmission || k == config.KindSMTPS
}

func (s *session) clientIP() netip.Addr { return s.cs.remote.Addr().Unmap() }

// mayRelay reports whether the client may send to domains this relay does
// not serve: authenticated users, trusted networks, and local unix sockets
// (whose file permissions are their access control).
func (s *session) mayRelay() bool {
	return s.authUser() != "" || s.srv.trusted(s.cs)
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.hasFrom {
		// RFC 5321 section 4.1.4. go-smtp would start a new transaction
		// on its side but keep the old one's recipients, so a DATA after
		// it would be answered for recipients sluice no longer has.
		return errNestedMail
	}
	if e := s.settleBDAT(); e != nil {
		return e
	}
	if s.mustAuth() && s.authUser() == "" {
		return errAuthRequired
	}
	if opts != nil {
		s.mailOpts = *opts
	}
	if max := s.srv.config().Limits.MaxMessageBytes; max > 0 && s.mailOpts.Size > max {
		return reply(552, [3]int{5, 3, 4}, "Message size exceeds fixed maximum message size")
	}
	if e := s.senderPolicy(from); e != nil {
		return e
	}
	if e := s.admit(); e != nil {
		return e
	}
	s.hasFrom, s.from = true, from
	s.rcpts, s.perDomain, s.maxBytes = nil, map[string]int{}, s.srv.config().Limits.MaxMessageBytes
	s.chain, s.chainDomain, s.discard, s.rcptDiscarded, s.accepted = nil, "", false, false, nil
	if s.chains == nil {
		// The transaction runs on the chains current now, to its end, even
		// if a reload swaps in others meanwhile.
		s.chains = s.srv.acquireChains()
	}
	if fc := s.chains.session; !fc.Empty() {
		v := fc.Mail(context.Background(), s.txn(""))
		s.srv.logVerdict("mail", v, "client_ip", s.clientIP().String(), "from", from)
		if e := verdictError(v); e != nil {
			s.hasFrom = false
			return e
		}
		s.discard = v.Action == plugin.Discard
	}
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if !s.hasFrom {
		return errNeedMail
	}
	d, e := s.recipientPolicy(to, s.mayRelay())
	if e != nil {
		return e
	}
	if r := s.findRecipient(to); r != nil {
		// Already accepted in this transaction: the same answer again,
		// and one copy of the message (duplicate RCPTs would be delivered
		// once each).
		s.accept(to, r.rcpt, r.domain)
		return nil
	}
	if max := d.MaxRecipients; max > 0 && s.perDomain[d.Name] >= max {
		return reply(452, [3]int{4, 5, 3}, "Too many recipients for this domain in one transaction")
	}
	if max := d.MaxMessageBytes; max > 0 {
		if s.mailOpts.Size > max {
			return reply(552, [3]int{5, 3, 4}, "Message too large for <%s>", to)
		}
		if s.maxBytes == 0 || max < s.maxBytes {
			s.maxBytes = max
		}
	}
	// One DATA reply must be true for every recipient, so all recipients of
	// a transaction share one filter chain; others wait for a new
	// transaction (the client retries them after 452, RFC 5321 section
	// 4.5.3.1.10). LMTP replies per recipient after DATA, so there each
	// chain runs on its own copy of the message (LMTPData).
	if !s.isLMTP() && s.chainDomain != "" && s.chains.keys[d.Name] != s.chains.keys[s.chainDomain] {
		return reply(452, [3]int{4, 5, 3}, "<%s> runs other filters; send it in a separate transaction", to)
	}
	r := &queue.Recipient{Addr: to}
	chain := s.chains.chain(d.Name)
	if !chain.Empty() {
		pr := plugin.Recipient{Addr: to, Params: rcptParams(opts)}
		v := chain.Rcpt(context.Background(), s.txn(""), pr)
		s.srv.logVerdict("rcpt", v, "client_ip", s.clientIP().String(), "rcpt", to)
		if e := verdictError(v); e != nil {
			return e
		}
		if v.Action == plugin.Discard {
			// Accepted, then dropped: this recipient is not queued.
			s.rcptDiscarded = true
			s.accept(to, nil, d.Name)
			return nil
		}
	}
	if s.chainDomain == "" {
		s.chain, s.chainDomain = chain, d.Name
	}
	if opts != nil {
		for _, n := range opts.Notify {
			r.Notify = append(r.Notify, string(n))
		}
		if opts.OriginalRecipient != "" {
			r.ORcpt = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
		}
	}
	s.rcpts = append(s.rcpts, r)
	s.perDomain[d.Name]++
	s.accept(to, r, d.Name)
	return nil
}

// senderPolicy decides whether this transaction may have sender from ("" is
// the null sender), for a client's MAIL and for a sender a data-stage
// filter sets (checkEnvelope) alike; MAIL's options must be in s.mailOpts.
// An authenticated client may use only its user's addresses
// (config.MaySendAs), on every listener: AUTH is what lets it relay, so
// binding it only on submission would leave port 25 open to the same
// forgery. A filter's new sender is held to the same binding: a filter
// that rewrites senders for authenticated users must map them to one of
// the user's addresses (or the null sender).
func (s *session) senderPolicy(from string) *smtp.SMTPError {
	if from != "" && !mailbox.Valid(from) {
		return reply(553, [3]int{5, 1, 7}, "Malformed sender address")
	}
	if !s.mailOpts.UTF8 && !isASCII(from) {
		return errNeedSMTPUTF8
	}
	if u := s.authUser(); u != "" && !s.srv.config().MaySendAs(u, from) {
		s.srv.log.Info("sender not owned by the authenticated user", "client_ip", s.clientIP().String(), "user", u, "from", from)
		return errSenderNotOwned
	}
	return nil
}

// recipientPolicy decides whether this transaction may have recipient to,
// for a client's RCPT and for a recipient a filter adds or renames
// (checkEnvelope) alike, and returns its domain block. mayRelay tells
// whether to may be in a domain the relay does not serve (see
// session.mayRelay; a filter granted "relay" may too).
func (s *session) recipientPolicy(to string, mayRelay bool) (*config.Domain, *smtp.SMTPError) {
	if !mailbox.Valid(to) {
		return nil, reply(553, [3]int{5, 1, 3}, "Malformed recipient address")
	}
	if !s.mailOpts.UTF8 && !isASCII(to) {
		return nil, errNeedSMTPUTF8
	}
	d, local := s.srv.routingTable().Lookup(routing.Domain(to))
	if !local && !mayRelay {
		// RFC 5321 section 3.6.2: no open relay.
		return nil, reply(554, [3]int{5, 7, 1}, "Relay access denied for <%s>", to)
	}
	if d == nil {
		return nil, reply(550, [3]int{5, 1, 2}, "No route to domain of <%s>", to)
	}
	if err := s.srv.routingTable().CheckRecipient(d, to); err != nil {
		// The transport would refuse it after 250 (a bounce): say so now.
		s.srv.log.Debug("recipient refused by its transport", "rcpt", to, "reason", err)
		return nil, reply(550, [3]int{5, 1, 3}, "Recipient address <%s> cannot be delivered here", to)
	}
	return d, nil
}

func (s *session) isLMTP() bool { return s.cs.listener.cfg.Kind == config.KindLMTP }

// accept records, on LMTP, a RCPT answered 250 (see acceptedRcpt).
func (s *session) accept(addr string, r *queue.Recipient, domain string) {
	if s.isLMTP() {
		s.accepted = append(s.accepted, acceptedRcpt{addr: addr, rcpt: r, domain: domain})
	}
}

// settleBDAT waits, at MAIL, until go-smtp has finished with the last BDAT
// transfer. go-smtp (v0.25) reads BDAT chunks into a pipe whose reader a
// goroutine of its own hands to Data; after Data returns, that goroutine
// sends the result to a channel field of the connection that the next
// BDAT replaces. When a transfer was cut short (RSET, EHLO or STARTTLS
// between chunks, a chunk over the size limit), a goroutine that sent
// late gave its 451 to the next transaction's BDAT LAST, which the client
// then retried although its message had been queued. The goroutine closes
// the reader right after it sends, and a pipe whose reader is closed reads
// io.ErrClosedPipe, so waiting for that is enough; go-smtp has closed the
// writer before it takes a MAIL, so the reads do not block. (A zero-size
// chunk cut short before go-smtp's goroutine reaches Data is not covered.)
func (s *session) settleBDAT() *smtp.SMTPError {
	pr := s.cs.bdat.Swap(nil)
	if pr == nil {
		return nil
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := pr.Read(nil); err == io.ErrClosedPipe {
			return nil
		}
		if time.Now().After(deadline) {
			s.srv.log.Error("previous BDAT transfer never finished; closing the connection", "client_ip", s.clientIP().String())
			s.cs.lastReply.Store(true)
			return errLocalTempfail
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// findRecipient returns the recipient the transaction already has for the
// address, its domain compared without case (a local part may be
// case-sensitive), with the domain block it came from; nil if none.
func (s *session) findRecipient(to string) *acceptedRcpt {
	at := strings.LastIndexByte(to, '@')
	for _, r := range s.rcpts {
		if len(r.Addr) == len(to) && r.Addr[:at] == to[:at] && strings.EqualFold(r.Addr[at:], to[at:]) {
			return &acceptedRcpt{addr: to, rcpt: r, domain: s.domainOf(r)}
		}
	}
	return nil
}

// domainOf is the domain block recipient r was accepted through (recorded
// on LMTP only; elsewhere every recipient shares chainDomain).
func (s *session) domainOf(r *queue.Recipient) string {
	for _, a := range s.accepted {
		if a.rcpt == r {
			return a.domain
		}
	}
	return s.chainDomain
}

func (s *session) Data(r io.Reader) error {
	id, err := s.receive(r)
	if err != nil {
		return err
	}
	return reply(250, [3]int{2, 0, 0}, "OK: queued as %s", id)
}

// LMTPData answers the DATA of an LMTP transaction, one reply per
// recipient (RFC 2033 section 4.2). When the recipients run one filter
// chain, one verdict holds for all: go-smtp fills each recipient the
// client named with the returned reply. When they run several, the
// message is spooled once and copied, each chain runs on its own copy
// with its own recipients, and each recipient gets its chain's reply.
// Replies are keyed by the addresses as the client wrote them (a filter
// may have renamed or added recipients; go-smtp panics on an address the
// client did not name).
func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	var domains []string // one domain block per chain, in the order first named
	for _, a := range s.accepted {
		if a.rcpt != nil && !slices.ContainsFunc(domains, func(d string) bool { return s.chains.keys[d] == s.chains.keys[a.domain] }) {
			domains = append(domains, a.domain)
		}
	}
	if len(domains) < 2 {
		return s.Data(r)
	}
	in, sp, err := s.spool(r)
	if err != nil || in == nil {
		return err
	}
	// Every chain's copy is made before any chain changes its own.
	ins := []*queue.Incoming{in}
	for range domains[1:] {
		c, err := s.srv.queue.NewMessage()
		if err == nil {
			if _, err = io.Copy(c, io.NewSectionReader(in, 0, in.Size())); err != nil {
				c.Abort()
			}
		}
		if err != nil {
			s.srv.log.Error("cannot copy the message for another filter chain", "id", in.ID, "error", err)
			for _, x := range ins {
				x.Abort()
			}
			return errLocalTempfail
		}
		ins = append(ins, c)
	}
	all, from, chainDomain := s.rcpts, s.from, s.chainDomain
	defer func() { s.rcpts, s.from, s.chainDomain = all, from, chainDomain }()
	for i, d := range domains {
		inChain := func(a acceptedRcpt) bool { return a.rcpt != nil && s.chains.keys[a.domain] == s.chains.keys[d] }
		s.rcpts, s.from, s.chain, s.chainDomain = nil, from, s.chains.chain(d), d
		for _, a := range s.accepted { // in RCPT order; a duplicate names its first one's recipient
			if inChain(a) && !slices.Contains(s.rcpts, a.rcpt) {
				s.rcpts = append(s.rcpts, a.rcpt)
			}
		}
		id, err := s.finish(ins[i], sp)
		if err == nil {
			err = reply(250, [3]int{2, 0, 0}, "OK: queued as %s", id)
		}
		for _, a := range s.accepted {
			if inChain(a) {
				status.SetStatus(a.addr, err)
			}
		}
	}
	return nil // recipients discarded at RCPT: accepted, not kept
}

// spooled is what finish needs of a message spool wrote.
type spooled struct {
	skip        int64 // the relay's Received header, before the client's bytes
	with        trace.Transmission
	stamp       trace.Stamp
	discardedID string // the reference of a message read and dropped
}

// receive spools the message, runs the data stage and commits it to the queue.
func (s *session) receive(r io.Reader) (string, error) {
	in, sp, err := s.spool(r)
	if err != nil || in == nil {
		return sp.discardedID, err
	}
	return s.finish(in, sp)
}

// spool writes the relay's Received header and the client's message data
// to a new queue file. A nil file with no error means the message was
// read and dropped (discarded by a filter; sp.discardedID names it).
func (s *session) spool(r io.Reader) (*queue.Incoming, spooled, error) {
	if !s.hasFrom {
		return nil, spooled{}, errNeedMail
	}
	lim := s.srv.config().Limits
	s.cs.startData(time.Now(), lim.DataTimeout, lim.MinDataRate)
	s.cs.inData.Store(true)
	defer s.cs.inData.Store(false)
	if pr, ok := r.(*io.PipeReader); ok {
		s.cs.bdat.Store(pr) // BDAT: see settleBDAT
	} else if s.sentBefore354() {
		// The rest of the data is not read: the connection closes.
		s.srv.log.Info("message data sent before the 354 reply", "client_ip", s.clientIP().String())
		s.cs.hangUp()
		return nil, spooled{}, errPipelining
	}
	if len(s.rcpts) == 0 && !s.discard && !s.rcptDiscarded {
		// go-smtp has recipients that sluice does not: never answer 250
		// for a message that nobody will get.
		io.Copy(io.Discard, r)
		return nil, spooled{}, errNoRecipients
	}
	if s.discard || len(s.rcpts) == 0 {
		// Every recipient (or the whole transaction) was discarded by a
		// filter: read the message, answer as if queued, keep nothing.
		io.Copy(io.Discard, r)
		id := "discarded-" + newSessionID()
		s.srv.log.Info("message discarded by filter", "client_ip", s.clientIP().String(), "from", s.from, "ref", id)
		return nil, spooled{discardedID: id}, nil
	}
	in, err := s.srv.queue.NewMessage()
	if err != nil {
		s.srv.log.Error("cannot create queue file", "error", err)
		io.Copy(io.Discard, r)
		return nil, spooled{}, errLocalTempfail
	}
	tlsSt, isTLS := tlsState(s.conn, s.cs)
	with := trace.Transmission{
		LMTP:     s.cs.listener.cfg.Kind == config.KindLMTP,
		Extended: s.cs.extended.Load(),
		TLS:      isTLS,
		Auth:     s.authUser() != "",
		UTF8:     s.mailOpts.UTF8,
	}
	stamp := trace.Stamp{Helo: s.conn.Hostname(), ClientIP: s.clientIP(), By: s.srv.config().Hostname,
		With: with, ID: in.ID, Date: time.Now()}
	if isTLS {
		stamp.TLS = tlsSt
	}
	if len(s.rcpts) == 1 {
		stamp.For = s.rcpts[0].Addr
	}
	// The relay's own trace field goes on top and is never shown to
	// filters as editable: a forged Received below it changes nothing.
	header := stamp.Header()
	if _, err := io.WriteString(in, header); err != nil {
		in.Abort()
		io.Copy(io.Discard, r)
		return nil, spooled{}, errLocalTempfail
	}
	cr := newCheckedReader(r, lim.MaxHeaderBytes, s.maxBytes, int64(lim.MaxLineLength))
	if _, err := io.Copy(in, cr); err != nil {
		in.Abort()
		io.Copy(io.Discard, r)
		var se *smtp.SMTPError
		switch {
		case errors.As(err, &se):
			switch se {
			case errDataTimeout:
				s.srv.log.Info("client timed out sending message data", "id", in.ID, "client_ip", s.clientIP().String())
			case errDataDeadline:
				s.srv.log.Info("client too slow sending message data: data_timeout", "id", in.ID, "client_ip", s.clientIP().String())
			}
			return nil, spooled{}, se
		case errors.Is(err, smtp.ErrTooLongLine):
			// Only on DATA: the rest of the data cannot be read, so
			// go-smtp would answer a second time and close.
			s.cs.lastReply.Store(true)
			return nil, spooled{}, errLineTooLongClosing
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
			s.srv.log.Info("connection lost during message data", "id", in.ID, "client_ip", s.clientIP().String())
			return nil, spooled{}, reply(451, [3]int{4, 3, 0}, "Connection lost during DATA")
		case errors.Is(err, smtp.ErrDataReset):
			// RSET or a disconnect between BDAT chunks: nobody reads this reply.
			return nil, spooled{}, errDataAborted
		}
		s.srv.log.Error("cannot spool message", "id", in.ID, "error", err)
		return nil, spooled{}, errLocalTempfail
	}
	if err := cr.final(); err != nil {
		in.Abort()
		return nil, spooled{}, err
	}
	return in, spooled{skip: int64(len(header)), with: with, stamp: stamp}, nil
}

// finish runs the data stage on a spooled message and commits it to the
// queue (or quarantines or drops it, as the filters said) for the
// recipients in s.rcpts.
func (s *session) finish(in *queue.Incoming, sp spooled) (string, error) {
	with, stamp := sp.with, sp.stamp
	// Filter chain, data stage: on the spooled file, before commit.
	v, err := s.runDataStage(context.Background(), in, sp.skip)
	if err != nil {
		in.Abort()
		s.srv.log.Error("cannot apply filter changes", "id", in.ID, "error", err)
		return "", errLocalTempfail
	}
	s.srv.logVerdict("data", v, "id", in.ID, "client_ip", s.clientIP().String(), "from", s.from)
	if e := verdictError(v); e != nil {
		in.Abort()
		return "", e
	}
	if v.Action == plugin.Discard || len(s.rcpts) == 0 {
		in.Abort()
		return in.ID, nil
	}

	env := &queue.Envelope{
		From: s.from, Recipients: s.rcpts, UTF8: s.mailOpts.UTF8,
		EightBit: s.mailOpts.Body == smtp.Body8BitMIME,
		Helo:     s.conn.Hostname(), AuthUser: s.authUser(), Listener: s.cs.listener.cfg.Name,
		DSNRet: string(s.mailOpts.Return), DSNEnvID: s.mailOpts.EnvelopeID,
	}
	if ip := s.clientIP(); ip.IsValid() {
		env.ClientIP = ip.String()
	}
	if v.Action == plugin.Quarantine {
		if err := s.srv.queue.Quarantine(in, env); err != nil {
			s.srv.log.Error("cannot quarantine message", "id", in.ID, "error", err)
			return "", errLocalTempfail
		}
		s.srv.log.Info("message quarantined", "id", env.ID, "filter", v.Filter, "from", env.From, "rcpts", len(env.Recipients))
		return env.ID, nil
	}
	if err := s.srv.queue.Commit(in, env); err != nil {
		s.srv.log.Error("cannot commit message", "id", in.ID, "error", err)
		return "", errLocalTempfail
	}
	s.srv.log.Info("message accepted", "id", env.ID, "client_ip", env.ClientIP, "helo", env.Helo,
		"with", trace.Keyword(with), "tls", tlsDesc(stamp.TLS), "from", env.From,
		"rcpts", len(env.Recipients), "size", env.Size, "listener", env.Listener)
	return env.ID, nil
}

func tlsDesc(st *tls.ConnectionState) string {
	if st == nil {
		return "none"
	}
	v, c := tlsNames(st)
	return v + " " + c
}

func tlsNames(st *tls.ConnectionState) (version, cipher string) {
	return tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)
}

func rcptParams(o *smtp.RcptOptions) map[string]string {
	p := map[string]string{}
	if o == nil {
		return p
	}
	if len(o.Notify) > 0 {
		n := make([]string, len(o.Notify))
		for i, v := range o.Notify {
			n[i] = string(v)
		}
		p["NOTIFY"] = strings.Join(n, ",")
	}
	if o.OriginalRecipient != "" {
		p["ORCPT"] = string(o.OriginalRecipientType) + ";" + o.OriginalRecipient
	}
	return p
}

// AuthMechanisms implements smtp.AuthSession: PLAIN and LOGIN, none when no
// user is configured. go-smtp offers AUTH only over TLS (or on smtps, which
// sluice terminates itself, or on a listener with insecure_auth).
func (s *session) AuthMechanisms() []string {
	if len(s.srv.config().Users) == 0 {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.authUser() != "" {
		return nil, reply(503, [3]int{5, 5, 1}, "Already authenticated")
	}
	if e := s.authAllowed(); e != nil {
		return nil, e
	}
	check := func(identity, user, pass string) error {
		if identity != "" && identity != user {
			return smtp.ErrAuthFailed
		}
		if !s.srv.checkPassword(user, pass) {
			s.srv.log.Warn("authentication failed", "client_ip", s.clientIP().String(), "user", user, "mechanism", mech)
			return s.authFailed() // authlimit.go
		}
		s.cs.authUser.Store(&user)
		return nil
	}
	if fc := s.srv.currentChains().session; !fc.Empty() {
		inner := check
		check = func(identity, user, pass string) error {
			err := inner(identity, user, pass)
			chains := s.srv.acquireChains()
			defer chains.release()
			v := chains.session.Auth(context.Background(), s.pluginSession(), mech, user, err == nil)
			s.srv.logVerdict("auth", v, "client_ip", s.clientIP().String(), "user", user)
			if e := verdictError(v); e != nil {
				s.cs.authUser.Store(nil)
				return e
			}
			return err
		}
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return malformedIs501{sasl.NewPlainServer(check)}, nil
	case sasl.Login:
		return newLoginServer(func(user, pass string) error { return check("", user, pass) }), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// malformedIs501 answers a response the mechanism cannot parse (PLAIN
// without its two NULs) 501 5.5.2 as RFC 4954 section 4 answers one that
// is not base64; go-smtp would send 454 4.7.0, a temporary failure, with
// go-sasl's error text.
type malformedIs501 struct{ sasl.Server }

func (m malformedIs501) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := m.Server.Next(response)
	if _, ok := err.(*smtp.SMTPError); err != nil && !ok {
		err = errAuthMalformed
	}
	return challenge, done, err
}

// dummyHash makes a login for an unknown user cost as much as for a known
// one, so response time does not reveal which users exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("sluice-dummy-password"), bcrypt.DefaultCost)

func (srv *Server) checkPassword(user, pass string) bool {
	u, ok := srv.config().UserByName(user)
	if !ok {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(pass))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pass)) == nil
}

// isASCII reports whether an address can be sent without SMTPUTF8
// (RFC 6531 section 3.3): a non-ASCII one sent on without it would break
// the next hop's MAIL or RCPT.
func isASCII(a string) bool {
	for i := 0; i < len(a); i++ {
		if a[i] >= 0x80 {
			return false
		}
	}
	return true
}
