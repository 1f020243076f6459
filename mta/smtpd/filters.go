package smtpd

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/queue"
	"github.com/sluice-mail/sluice/mta/routing"
	"github.com/sluice-mail/sluice/plugin"
)

// filterChains holds the plugin chains the dialog runs.
//
// Recipient and data stages run the chain of the recipient's domain block.
// The session stages (connect, helo, auth, mail) come before any recipient
// is known, so they run every filter that any domain's chain uses, in the
// order they are first named.
type filterChains struct {
	cfg     *config.Config // the configuration they were built for
	session *plugin.Chain
	byName  map[string]*plugin.Chain // domain block name → chain
	keys    map[string]string        // domain block name → chain identity
	users   sync.WaitGroup           // transactions and calls holding these chains
}

func newFilterChains(cfg *config.Config, h *plugin.Host) (*filterChains, error) {
	fc := &filterChains{cfg: cfg, byName: map[string]*plugin.Chain{}, keys: map[string]string{}}
	if h == nil {
		return fc, nil
	}
	var all []string
	seen := map[string]bool{}
	for _, d := range cfg.Domains {
		c, err := h.Chain(d.Filters)
		if err != nil {
			return nil, fmt.Errorf("domain %q: %w", d.Name, err)
		}
		fc.byName[d.Name] = c
		fc.keys[d.Name] = strings.Join(d.Filters, "\x00")
		for _, f := range d.Filters {
			if !seen[f] {
				seen[f] = true
				all = append(all, f)
			}
		}
	}
	c, err := h.Chain(all)
	if err != nil {
		return nil, err
	}
	fc.session = c
	return fc, nil
}

// chain returns the chain of a domain block (nil, an empty chain, if none).
func (fc *filterChains) chain(domain string) *plugin.Chain { return fc.byName[domain] }

// verdictError turns a refusing verdict into the reply go-smtp sends. It
// returns nil for verdicts that let the dialog go on.
func verdictError(v plugin.Verdict) *smtp.SMTPError {
	switch v.Action {
	case plugin.Reject, plugin.Tempfail:
		code := v.Code
		def := [3]int{5, 7, 1}
		if v.Action == plugin.Tempfail {
			def = [3]int{4, 7, 1}
			if code/100 != 4 {
				code = 451
			}
		} else if code/100 != 5 {
			code = 550
		}
		enh := parseEnhanced(v.Enhanced, def)
		text := v.Text
		if text == "" {
			text = "Message refused by policy"
		}
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode(enh), Message: text}
	}
	return nil
}

func parseEnhanced(s string, def [3]int) [3]int {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return def
	}
	var out [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 {
			return def
		}
		out[i] = n
	}
	if out[0] != def[0] {
		return def
	}
	return out
}

// pluginSession describes the connection to filters.
func (s *session) pluginSession() *plugin.Session {
	ps := s.cs.pluginSession()
	if s.conn != nil {
		ps.Helo = s.conn.Hostname()
		if st, ok := tlsState(s.conn, s.cs); ok {
			ps.TLS = true
			ps.TLSVersion, ps.TLSCipher = tlsNames(st)
		}
	}
	ps.HeloExtended = s.cs.extended.Load()
	ps.AuthUser = s.authUser()
	ps.Trusted = s.srv.trusted(s.cs)
	return ps
}

func (cs *connState) pluginSession() *plugin.Session {
	ps := &plugin.Session{ID: cs.id, ClientIP: cs.remote.Addr().Unmap(), ClientPort: int(cs.remote.Port()),
		Listener: cs.listener.cfg.Name, ListenerKind: string(cs.listener.cfg.Kind)}
	if cs.implicitTLS != nil {
		st := cs.implicitTLS.ConnectionState()
		ps.TLS = true
		ps.TLSVersion, ps.TLSCipher = tlsNames(&st)
	}
	return ps
}

// txn describes the current transaction to filters.
func (s *session) txn(queueID string) *plugin.Txn {
	t := &plugin.Txn{Session: s.pluginSession(), QueueID: queueID, From: s.from, MailParams: mailParams(&s.mailOpts)}
	for _, r := range s.rcpts {
		t.Recipients = append(t.Recipients, plugin.Recipient{Addr: r.Addr})
	}
	return t
}

func mailParams(o *smtp.MailOptions) map[string]string {
	p := map[string]string{}
	if o.Size > 0 {
		p["SIZE"] = strconv.FormatInt(o.Size, 10)
	}
	if o.Body != "" {
		p["BODY"] = string(o.Body)
	}
	if o.UTF8 {
		p["SMTPUTF8"] = ""
	}
	if o.Return != "" {
		p["RET"] = string(o.Return)
	}
	if o.EnvelopeID != "" {
		p["ENVID"] = o.EnvelopeID
	}
	return p
}

// runDataStage runs the transaction's chain on the spooled message (the
// client's bytes start at offset skip, after the relay's Received header)
// and applies the changes: message changes are written to the spool file
// between filters, so each filter sees what the ones before it left
// (plugin.Chain.DataWithRewrite). It returns the verdict, for the caller to
// act on.
func (s *session) runDataStage(ctx context.Context, in *queue.Incoming, skip int64) (plugin.Verdict, error) {
	cont := plugin.Verdict{Action: plugin.Continue}
	if s.chain.Empty() {
		return cont, nil
	}
	size := in.Size() - skip
	msg, err := plugin.ReadMessage(io.NewSectionReader(in, skip, size), size)
	if err != nil {
		// Unparseable header: filters cannot judge it; the failure policy
		// of a chain is per filter, so refuse temporarily and log.
		s.srv.log.Warn("message header unreadable for filters", "id", in.ID, "error", err)
		return plugin.Verdict{Action: plugin.Reject, Code: 554, Enhanced: "5.6.0", Text: "Malformed message header"}, nil
	}
	// apply writes the message with ch applied over the spool file, the
	// relay's Received header kept in front; rewrite also reads it back,
	// for the filters after the one that changed it.
	apply := func(ch *plugin.Changes) error {
		header := make([]byte, skip)
		if _, err := in.ReadAt(header, 0); err != nil {
			return err
		}
		original := io.NewSectionReader(in, skip, in.Size()-skip)
		pr, pw := io.Pipe()
		go func() {
			pw.Write(header)
			pw.CloseWithError(plugin.Apply(ch, original, pw))
		}()
		if err := in.Replace(pr); err != nil {
			pr.CloseWithError(err)
			return err
		}
		return nil
	}
	rewrite := func(ch *plugin.Changes) (*plugin.Message, error) {
		if err := apply(ch); err != nil {
			return nil, err
		}
		size := in.Size() - skip
		return plugin.ReadMessage(io.NewSectionReader(in, skip, size), size)
	}
	t := s.txn(in.ID)
	t.Policy = plugin.Policy{MaxMessageBytes: s.maxBytes, MaxHeaderBytes: s.srv.config().Limits.MaxHeaderBytes, Envelope: s.checkEnvelope}
	v, ch := s.chain.DataWithRewrite(ctx, t, msg, rewrite)
	if v.Action == plugin.Reject || v.Action == plugin.Tempfail || ch.Empty() {
		return v, nil
	}
	s.applyEnvelopeChanges(ch)
	if ch.MessageChanged() {
		if err := apply(ch); err != nil {
			return v, err
		}
	}
	return v, nil
}

// checkEnvelope holds the sender a data-stage filter sets to the rules of
// a client's MAIL, and the recipients it adds or renames, and its
// reroutes, to those of a client's RCPT (plugin.Policy.Envelope; the rule
// is in sdk/ABI.md 3.3):
//   - a new sender must pass senderPolicy, as its MAIL would have in this
//     transaction (the null sender too, as MAIL takes it);
//   - a new recipient must pass recipientPolicy, as its RCPT would have in
//     this session; a filter granted "relay" counts as a client allowed to
//     relay;
//   - its domain block must run the transaction's filter chain, or none:
//     the filters of its own domain never saw the message, and running them
//     now could not change the reply the client already awaits;
//   - the recipients after the changes stay within max_recipients, overall
//     and per domain block, and the message within each new recipient's
//     domain's max_message_size;
//   - a reroute names a served domain block (not an unknown one, which the
//     relay used to ignore).
func (s *session) checkEnvelope(e plugin.EnvelopeChange) error {
	if e.Sender != nil {
		if se := s.senderPolicy(*e.Sender); se != nil {
			return fmt.Errorf("sender <%s>: %d %s", *e.Sender, se.Code, se.Message)
		}
	}
	mayRelay := e.Relay || s.mayRelay()
	tx := s.chains.keys[s.chainDomain]
	for _, to := range e.New {
		d, se := s.recipientPolicy(to, mayRelay)
		if se != nil {
			return fmt.Errorf("recipient <%s>: %d %s", to, se.Code, se.Message)
		}
		if k := s.chains.keys[d.Name]; k != "" && k != tx {
			return fmt.Errorf("recipient <%s>: domain block %q runs other filters than this transaction", to, d.Name)
		}
		if max := d.MaxMessageBytes; max > 0 && e.MessageBytes > max {
			return fmt.Errorf("%w: recipient <%s>: message of %d bytes (max_message_size of %q is %d)", plugin.ErrOverLimit, to, e.MessageBytes, d.Name, max)
		}
	}
	if max := s.srv.config().Limits.MaxRecipients; max > 0 && len(e.Recipients) > max {
		return fmt.Errorf("%w: %d recipients (max_recipients %d)", plugin.ErrOverLimit, len(e.Recipients), max)
	}
	perDomain := map[*config.Domain]int{}
	for _, to := range e.Recipients {
		d, _ := s.srv.routingTable().Lookup(routing.Domain(to))
		if d == nil {
			continue // accepted before a reload; not a filter's doing
		}
		if perDomain[d]++; d.MaxRecipients > 0 && perDomain[d] > d.MaxRecipients {
			return fmt.Errorf("%w: over %d recipients of domain block %q (its max_recipients)", plugin.ErrOverLimit, d.MaxRecipients, d.Name)
		}
	}
	for _, rr := range e.Reroutes {
		// Route names cannot name the catch-all ("*"): a reroute moves a
		// recipient to a served domain's delivery, never out to relaying.
		if _, ok := s.srv.config().Domain(rr.Route); !ok {
			return fmt.Errorf("reroute of <%s>: no domain block %q", rr.Recipient, rr.Route)
		}
	}
	return nil
}

// applyEnvelopeChanges applies sender and recipient changes validated by
// the plugin host and held to the relay's rules by checkEnvelope.
func (s *session) applyEnvelopeChanges(ch *plugin.Changes) {
	if ch.Sender != nil {
		s.from = *ch.Sender
	}
	for _, rc := range ch.ReplaceRecipients {
		for _, r := range s.rcpts {
			if strings.EqualFold(r.Addr, rc.From) {
				r.Addr = rc.To
			}
		}
	}
	for _, gone := range ch.RemoveRecipients {
		kept := s.rcpts[:0]
		for _, r := range s.rcpts {
			if !strings.EqualFold(r.Addr, gone) {
				kept = append(kept, r)
			}
		}
		s.rcpts = kept
	}
	for _, add := range ch.AddRecipients {
		s.rcpts = append(s.rcpts, &queue.Recipient{Addr: add.Addr})
	}
	for _, rr := range ch.Reroutes {
		// checkEnvelope refused unknown domain blocks; one can still be
		// gone if a reload came between.
		if _, ok := s.srv.config().Domain(rr.Route); !ok {
			s.srv.log.Warn("filter rerouted to an unknown domain block; ignored", "rcpt", rr.Recipient, "route", rr.Route)
			continue
		}
		for _, r := range s.rcpts {
			if strings.EqualFold(r.Addr, rr.Recipient) {
				r.Route = rr.Route
			}
		}
	}
}

// Filters holds the filter chains of the running configuration. The SMTP
// dialog runs them, and the queue runs their delivered stage through
// Delivered (queue.Options.Finished) once a message is finished, so they
// are built before both: the queue never needs the server. A reload swaps
// in new chains (Server.Reload, Server.SetPlugins); whoever acquired the
// previous ones keeps them to the end of its transaction or call.
type Filters struct {
	mu  sync.RWMutex
	cur *filterChains
}

// NewFilters builds the chains cfg's domain blocks name from the filters
// of h (nil: no filter runs).
func NewFilters(cfg *config.Config, h *plugin.Host) (*Filters, error) {
	fc, err := newFilterChains(cfg, h)
	if err != nil {
		return nil, fmt.Errorf("smtpd: %w", err)
	}
	return &Filters{cur: fc}, nil
}

// acquire returns the current filter chains, held until release: a
// reload waits for every holder of the old chains before it reports them
// unused.
func (f *Filters) acquire() *filterChains {
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.cur.users.Add(1)
	return f.cur
}

func (f *Filters) current() *filterChains {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cur
}

// swap installs fc and returns a channel closed once no transaction uses
// the previous chains.
func (f *Filters) swap(fc *filterChains) <-chan struct{} {
	f.mu.Lock()
	old := f.cur
	f.cur = fc
	f.mu.Unlock()
	done := make(chan struct{})
	go func() {
		old.users.Wait()
		close(done)
	}()
	return done
}

func (s *Server) acquireChains() *filterChains { return s.filters.acquire() }
func (s *Server) currentChains() *filterChains { return s.filters.current() }

func (fc *filterChains) release() { fc.users.Done() }

// SetPlugins makes new transactions (and new connections' session stages)
// run the filter chains of h, built for the configured domains like at
// New; transactions in flight finish on the chains they started with. The
// returned channel is closed when nothing uses the previous chains any
// more: then the previous plugin host may be closed. On error nothing changes.
func (s *Server) SetPlugins(h *plugin.Host) (oldUnused <-chan struct{}, err error) {
	fc, err := newFilterChains(s.config(), h)
	if err != nil {
		return nil, fmt.Errorf("smtpd: %w", err)
	}
	return s.filters.swap(fc), nil
}
