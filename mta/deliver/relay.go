package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-smtp"
	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/sdk/mailbox"
)

// relay sends everything to one fixed next hop over SMTP or LMTP (RFC 2033).
type relay struct {
	hop  hop
	dial *dialer
	pool *pool
	log  hclog.Logger
}

func newRelay(h hop, d config.Delivery, opts Options) *relay {
	return &relay{
		hop:  h,
		dial: &dialer{opts: opts, tlsMode: d.TLS, authUser: d.AuthUser, authPass: d.AuthPassword},
		pool: newPool(opts.MaxIdle, opts.IdleTimeout),
		log:  opts.Logger.Named(string(d.Method)),
	}
}

func (r *relay) Deliver(ctx context.Context, msg *Message, rcpts []string) []Result {
	out := sendToHop(ctx, r.dial, r.pool, r.hop, msg, rcpts)
	for _, res := range out {
		r.log.Debug("delivery", "id", msg.ID, "hop", r.hop.String(), "rcpt", res.Rcpt, "result", res.String())
	}
	return out
}

func (r *relay) Close() error {
	r.pool.close()
	return nil
}

// sendToHop delivers msg to rcpts through one hop, on a pooled session when
// there is one. A pooled session may have been closed by the peer while idle;
// when it fails before any recipient is accepted the message is sent again
// on a fresh connection, which is safe because nothing was committed.
func sendToHop(ctx context.Context, d *dialer, p *pool, h hop, msg *Message, rcpts []string) []Result {
	out := make([]Result, len(rcpts))
	if !validSender(msg.From) {
		return fill(rcpts, Result{Code: 550, Enhanced: "5.1.7", Text: "sender address contains forbidden characters", Permanent: true})
	}
	// Recipients that cannot even be written into a command fail alone.
	var send []string
	var idx []int
	for i, rc := range rcpts {
		if !mailbox.Valid(rc) {
			out[i] = Result{Rcpt: rc, Code: 550, Enhanced: "5.1.3", Text: "recipient address contains forbidden characters", Permanent: true}
			continue
		}
		send = append(send, rc)
		idx = append(idx, i)
	}
	if len(send) == 0 {
		return out
	}
	var res []Result
	for try := 0; ; try++ {
		s := p.get(h.key())
		if s == nil {
			var err error
			if s, err = d.connect(ctx, h); err != nil {
				res = fill(send, classify(ctx, "", "", err))
				break
			}
		}
		var st txState
		res, st = transact(ctx, s, msg, send)
		switch {
		case st == txStale && s.reused && try == 0 && ctx.Err() == nil:
			s.c.Close()
			continue
		case st == txHealthy && ctx.Err() == nil:
			p.put(s)
		default:
			s.c.Close()
		}
		break
	}
	for j, i := range idx {
		out[i] = res[j]
	}
	return out
}

// txState says what a transaction left the session fit for.
type txState int

const (
	txHealthy txState = iota // reusable
	txBroken                 // must be closed
	txStale                  // broken before any recipient was accepted: retry elsewhere is safe
)

// transact runs one mail transaction (RFC 5321 §3.3) on a greeted session
// and returns one Result per recipient.
func transact(ctx context.Context, s *session, msg *Message, rcpts []string) ([]Result, txState) {
	what := s.hop.String()
	if msg.UTF8 && !s.utf8 {
		// RFC 6531 §3.5: a message that needs SMTPUTF8 must not be downgraded
		// silently; without an agreed downgrade it is undeliverable here.
		return fill(rcpts, Result{Code: 550, Enhanced: "5.6.7", Permanent: true,
			Text: fmt.Sprintf("message needs SMTPUTF8, which %s does not offer", what)}), txHealthy
	}
	body, err := msg.Open()
	if err != nil {
		return fill(rcpts, Result{Code: 451, Enhanced: "4.3.0", Text: cleanText("cannot read spooled message: " + err.Error())}), txHealthy
	}
	defer body.Close()

	// Closing the connection is the only way to interrupt blocked I/O.
	stop := context.AfterFunc(ctx, func() { s.raw.Close() })
	defer stop()

	if s.dirty {
		if err := s.c.Reset(); err != nil {
			return fill(rcpts, classify(ctx, "", "RSET to "+what, err)), txStale
		}
		s.dirty = false
	}
	// The DSN parameters go on to an SMTP next hop; an LMTP server is the
	// final delivery, which sluice itself reports (RFC 3461 section 5.2.3).
	dsn := msg.DSN
	if s.hop.lmtp {
		dsn = nil
	}
	if err := s.c.Mail(msg.From, mailOptions(msg, dsn)); err != nil {
		st := txHealthy
		if !isReply(err) || closesSession(err) {
			st = txStale
		}
		return fill(rcpts, classify(ctx, "", "MAIL to "+what, err)), st
	}
	s.dirty = true

	out := make([]Result, len(rcpts))
	var accepted []int
	for i, rc := range rcpts {
		err := s.c.Rcpt(rc, rcptOptions(dsn, rc))
		if err == nil {
			accepted = append(accepted, i)
			continue
		}
		out[i] = classify(ctx, rc, "RCPT to "+what, err)
		if !isReply(err) || closesSession(err) {
			// The session is gone: everyone not yet answered shares its fate,
			// including those accepted before, since DATA cannot follow.
			for j := i + 1; j < len(rcpts); j++ {
				out[j] = classify(ctx, rcpts[j], "RCPT to "+what, err)
			}
			for _, j := range accepted {
				out[j] = classify(ctx, rcpts[j], "RCPT to "+what, err)
			}
			return out, txBroken
		}
	}
	if len(accepted) == 0 {
		return out, txHealthy // no DATA without recipients; RSET precedes the next MAIL
	}
	failAccepted := func(step string, err error) {
		for _, j := range accepted {
			out[j] = classify(ctx, rcpts[j], step+" to "+what, err)
		}
	}
	w, err := s.c.Data()
	if err != nil {
		failAccepted("DATA", err)
		if !isReply(err) || closesSession(err) {
			return out, txBroken
		}
		return out, txHealthy
	}
	src := &readErrReader{r: body}
	if err := sendBody(s.wire, w, src); err != nil {
		// The dot must not be sent after a short body: the only way to abort
		// DATA is to drop the connection.
		if src.err != nil {
			for _, j := range accepted {
				out[j] = Result{Rcpt: rcpts[j], Code: 451, Enhanced: "4.3.0", Text: cleanText("reading spooled message: " + src.err.Error())}
			}
		} else {
			failAccepted("message body", err)
		}
		return out, txBroken
	}
	if s.hop.lmtp {
		return lmtpReplies(ctx, w, rcpts, accepted, out, what)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		failAccepted("end of data", err)
		if !isReply(err) || closesSession(err) {
			return out, txBroken
		}
		s.dirty = false
		return out, txHealthy
	}
	s.dirty = false
	for _, j := range accepted {
		out[j] = successResult(rcpts[j], resp.StatusText)
		out[j].Relayed, out[j].DSNPassed = true, s.dsn
	}
	return out, txHealthy
}

// mailOptions are the MAIL parameters msg is sent with. go-smtp adds the
// DSN ones (RFC 3461 section 5.2.1) only when the server offers DSN.
func mailOptions(msg *Message, d *DSN) *smtp.MailOptions {
	o := &smtp.MailOptions{UTF8: msg.UTF8, Size: msg.Size}
	if d != nil {
		if r := smtp.DSNReturn(strings.ToUpper(d.Ret)); r == smtp.DSNReturnFull || r == smtp.DSNReturnHeaders {
			o.Return = r
		}
		if printableASCII(d.EnvID) {
			o.EnvelopeID = d.EnvID
		}
	}
	return o
}

// rcptOptions are the RCPT parameters of rc: its NOTIFY and ORCPT, which
// go-smtp sends only to a server that offers DSN. Values go-smtp's client
// would refuse (it fails the command, not just the parameter) are left out:
// go-smtp's server, which received them, checked them already.
func rcptOptions(d *DSN, rc string) *smtp.RcptOptions {
	if d == nil {
		return nil
	}
	p, ok := d.Rcpt[rc]
	if !ok {
		return nil
	}
	o := &smtp.RcptOptions{}
	for _, n := range p.Notify {
		o.Notify = append(o.Notify, smtp.DSNNotify(strings.ToUpper(n)))
	}
	if !validNotify(o.Notify) {
		o.Notify = nil
	}
	if typ, orig, ok := strings.Cut(p.ORcpt, ";"); ok && orig != "" {
		switch t := smtp.DSNAddressType(strings.ToUpper(typ)); {
		case t == smtp.DSNAddressTypeRFC822 && printableASCII(orig), t == smtp.DSNAddressTypeUTF8 && printableUTF8(orig):
			o.OriginalRecipientType, o.OriginalRecipient = t, orig
		}
	}
	return o
}

// validNotify reports whether n is a NOTIFY list (RFC 3461 section 4.1):
// NEVER alone, or some of SUCCESS, FAILURE and DELAY, each once.
func validNotify(n []smtp.DSNNotify) bool {
	seen := map[smtp.DSNNotify]bool{}
	for _, v := range n {
		switch v {
		case smtp.DSNNotifyNever, smtp.DSNNotifySuccess, smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed:
		default:
			return false
		}
		if seen[v] {
			return false
		}
		seen[v] = true
	}
	return len(n) > 0 && (!seen[smtp.DSNNotifyNever] || len(n) == 1)
}

// printableASCII reports whether s is non-empty printable ASCII, as go-smtp
// wants ENVID and an rfc822 ORCPT before it encodes them as xtext.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return s != ""
}

// printableUTF8 reports whether s, a utf-8 ORCPT as the client wrote it
// (quotes and all, so not held to mailbox.Check), holds no control
// characters or angle brackets and is at most 1024 bytes; go-smtp encodes
// it as utf-8-addr-xtext or -unitext (RFC 6533 section 3).
func printableUTF8(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return s != "" && len(s) <= 1024
}

// lmtpReplies reads one reply per accepted recipient (RFC 2033 §4.2).
func lmtpReplies(ctx context.Context, w *smtp.DataCommand, rcpts []string, accepted []int, out []Result, what string) ([]Result, txState) {
	resp, err := w.CloseWithLMTPResponse()
	var perRcpt smtp.LMTPDataError
	errors.As(err, &perRcpt)
	st := txHealthy
	for _, j := range accepted {
		rc := rcpts[j]
		switch {
		case resp[rc] != nil:
			out[j] = successResult(rc, resp[rc].StatusText)
		case perRcpt[rc] != nil:
			out[j] = classify(ctx, rc, "end of data to "+what, perRcpt[rc])
		default:
			out[j] = classify(ctx, rc, "end of data to "+what, err)
			st = txBroken
		}
		if out[j].Code == 421 {
			st = txBroken
		}
	}
	return out, st
}

// isReply reports whether err is a reply from the peer, after which the
// session is still in a known state.
func isReply(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

// closesSession reports a 421 reply, after which the server closes the
// connection (RFC 5321 §3.8).
func closesSession(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code == 421
}

// readErrReader remembers a failure of the spool, to tell it from a
// failure of the peer.
type readErrReader struct {
	r   io.Reader
	err error
}

func (r *readErrReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
