package smtpd

import (
	"time"

	"github.com/emersion/go-smtp"
)

// Password guessing is slowed and then stopped, on the model of Postfix's
// smtpd_error_sleep_time and smtpd_hard_error_limit (per connection) and
// smtpd_client_auth_rate_limit (per client address, across connections):
//
//   - every failed password waits auth_failure_delay before its 535 5.7.8
//     (RFC 4954 section 6), so one connection cannot try more than one
//     password a delay;
//   - the max_auth_failures-th failure on one connection is answered
//     421 4.7.0 and the connection closes;
//   - each failure takes a token from its client address's bucket of
//     max_auth_failures_per_ip_per_hour (mta/ratelimit: bounded and
//     forgetting idle addresses), shared by all its connections. The
//     failure that empties it closes its connection with 421 4.7.0, and
//     while it is empty every AUTH from the address is answered 421 4.7.0
//     before any password is checked, so many connections in parallel
//     gain nothing.
//
// A successful AUTH costs nothing. Clients on a unix socket have no
// address: the per-connection limits alone apply to them. Only wrong
// credentials count: a malformed or cancelled exchange tests no password.

// Outcomes of an AUTH failure, the outcome argument of Metrics.AuthFailure.
const (
	AuthRejected = "rejected" // 535, the client may try again
	AuthClosed   = "closed"   // 421 after a failure that reached a limit
	AuthBlocked  = "blocked"  // 421 at AUTH: the address is over its limit
)

var (
	errAuthInvalid = reply(535, [3]int{5, 7, 8}, "Authentication credentials invalid")
	errAuthTooMany = reply(421, [3]int{4, 7, 0}, "Too many authentication failures, closing connection")
	errAuthBlocked = reply(421, [3]int{4, 7, 0}, "Too many authentication failures from your address, try again later; closing connection")
)

// authAllowed is checked when AUTH starts: nil, or the 421 that ends the
// connection of an address over its failure limit.
func (s *session) authAllowed() *smtp.SMTPError {
	if !s.cs.remote.IsValid() || !s.srv.authFailures.Exhausted(s.clientIP().String(), time.Now()) {
		return nil
	}
	s.srv.log.Warn("authentication refused: too many failures from the address", "client_ip", s.clientIP().String())
	s.srv.metric().AuthFailure(s.cs.listener.cfg.Name, AuthBlocked)
	s.cs.hangUp()
	return errAuthBlocked
}

// authFailed counts a failed password and returns the reply: 535 after
// auth_failure_delay, or the 421 that ends the connection at a limit.
func (s *session) authFailed() *smtp.SMTPError {
	lim := s.srv.config().Limits
	n := s.cs.authFailures.Add(1)
	over := lim.MaxAuthFailures > 0 && int(n) >= lim.MaxAuthFailures
	if s.cs.remote.IsValid() {
		ip, now := s.clientIP().String(), time.Now()
		// Allow is false when other connections emptied the bucket since
		// this AUTH started; Exhausted when this failure emptied it.
		if !s.srv.authFailures.Allow(ip, now) || s.srv.authFailures.Exhausted(ip, now) {
			over = true
		}
	}
	if over {
		s.srv.log.Warn("too many authentication failures, closing connection", "client_ip", s.clientIP().String(), "failures", n)
		s.srv.metric().AuthFailure(s.cs.listener.cfg.Name, AuthClosed)
		s.cs.hangUp()
		return errAuthTooMany
	}
	s.srv.metric().AuthFailure(s.cs.listener.cfg.Name, AuthRejected)
	time.Sleep(lim.AuthFailureDelay)
	return errAuthInvalid
}
