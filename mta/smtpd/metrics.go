package smtpd

import (
	"io"
	"strings"

	"github.com/emersion/go-smtp"
)

// Metrics is told what the front end does, for the relay's metrics
// (mta/metrics implements it). Options.Metrics nil records nothing. The
// methods are called from the connections' goroutines and must not block.
type Metrics interface {
	// ConnectionOpened and ConnectionClosed bracket every admitted connection.
	ConnectionOpened(listener string)
	ConnectionClosed(listener string)
	// ConnectionRefused is a connection turned away with 421 by a limit:
	// "max_connections" or "max_connections_per_ip".
	ConnectionRefused(listener, limit string)
	// Received is a message answered 250 at DATA (queued, quarantined or
	// discarded by a filter).
	Received(listener string)
	// Rejected is a refusal sluice replied at a stage: "connect", "helo",
	// "mail", "rcpt" or "data" (a 4xx or 5xx reply and its enhanced code).
	Rejected(listener, stage string, code int, enhanced [3]int)
	// AuthFailure is a failed or refused AUTH: outcome AuthRejected,
	// AuthClosed or AuthBlocked (authlimit.go).
	AuthFailure(listener, outcome string)
}

// Rejection stages, the stage argument of Metrics.Rejected.
const (
	StageConnect = "connect"
	StageHelo    = "helo"
	StageMail    = "mail"
	StageRcpt    = "rcpt"
	StageData    = "data"
)

// metric returns the sink, or one that records nothing.
func (s *Server) metric() Metrics {
	if s.metrics == nil {
		return noMetrics{}
	}
	return s.metrics
}

type noMetrics struct{}

func (noMetrics) ConnectionOpened(string)              {}
func (noMetrics) ConnectionClosed(string)              {}
func (noMetrics) ConnectionRefused(string, string)     {}
func (noMetrics) Received(string)                      {}
func (noMetrics) Rejected(string, string, int, [3]int) {}
func (noMetrics) AuthFailure(string, string)           {}

// refusedLimit names the limit behind one of accept's 421 replies.
func refusedLimit(reply string) string {
	if strings.Contains(reply, "from your address") {
		return "max_connections_per_ip"
	}
	return "max_connections"
}

// metered wraps the go-smtp backend when metrics are on: the wrapper sees
// every session method's reply, so the dialog code itself stays free of
// counting. It returns b unchanged when metrics are off.
func (s *Server) metered(b smtp.Backend) smtp.Backend {
	if s.metrics == nil {
		return b
	}
	return &meteredBackend{inner: b, m: s.metrics}
}

type meteredBackend struct {
	inner smtp.Backend
	m     Metrics
}

func (b *meteredBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	sess, err := b.inner.NewSession(c)
	cs := stateOf(c)
	if cs == nil {
		return sess, err
	}
	name := cs.listener.cfg.Name
	if err != nil {
		code, enh := replyOf(err)
		b.m.Rejected(name, StageHelo, code, enh)
		return sess, err
	}
	inner, ok := sess.(*session)
	if !ok {
		return sess, err
	}
	return &meteredSession{session: inner, m: b.m, listener: name}, nil
}

// meteredSession is a session whose replies are counted. Reset, Logout
// and AUTH are the embedded session's own.
type meteredSession struct {
	*session
	m        Metrics
	listener string
}

func (s *meteredSession) count(stage string, err error) error {
	if err == nil {
		return nil
	}
	code, enh := replyOf(err)
	if code/100 == 2 {
		if stage == StageData {
			s.m.Received(s.listener)
		}
		return err
	}
	s.m.Rejected(s.listener, stage, code, enh)
	return err
}

func (s *meteredSession) Mail(from string, opts *smtp.MailOptions) error {
	return s.count(StageMail, s.session.Mail(from, opts))
}

func (s *meteredSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	return s.count(StageRcpt, s.session.Rcpt(to, opts))
}

// Data answers 250 through an *smtp.SMTPError (with the queue id), so a
// 2xx "error" is a received message.
func (s *meteredSession) Data(r io.Reader) error {
	return s.count(StageData, s.session.Data(r))
}

func (s *meteredSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	err := s.session.LMTPData(r, status)
	if err == nil {
		s.m.Received(s.listener)
		return nil
	}
	return s.count(StageData, err)
}

// replyOf is the reply go-smtp sends for a session method's error: an
// *smtp.SMTPError as is, anything else a 554 5.0.0 (go-smtp's toSMTPStatus).
func replyOf(err error) (int, [3]int) {
	if se, ok := err.(*smtp.SMTPError); ok {
		return se.Code, [3]int(se.EnhancedCode)
	}
	return 554, [3]int{5, 0, 0}
}
