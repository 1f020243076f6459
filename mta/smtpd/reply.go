package smtpd

import (
	"fmt"

	"github.com/emersion/go-smtp"
)

// reply builds the *smtp.SMTPError values the session methods return.
// go-smtp matches them by type assertion, so they must never be wrapped
// (a wrapped error becomes a 554 showing the raw error text).
func reply(code int, enhanced [3]int, format string, args ...any) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode(enhanced), Message: fmt.Sprintf(format, args...)}
}

type connReply struct {
	code     int
	enhanced [3]int
	text     string
}

func (r *connReply) line() string {
	return fmt.Sprintf("%d %d.%d.%d %s\r\n", r.code, r.enhanced[0], r.enhanced[1], r.enhanced[2], r.text)
}

var (
	errAuthRequired  = reply(530, [3]int{5, 7, 0}, "Authentication required")
	errAuthMalformed = reply(501, [3]int{5, 5, 2}, "Malformed AUTH response")
	errNeedSMTPUTF8  = reply(553, [3]int{5, 6, 7}, "Must declare SMTPUTF8 to send a non-ASCII address")
	// Sender binding (session.senderPolicy); RFC 3463: 5.7.1, delivery not
	// authorized.
	errSenderNotOwned = reply(553, [3]int{5, 7, 1}, "Sender address not owned by the authenticated user")
	errNeedMail       = reply(503, [3]int{5, 5, 1}, "MAIL first")
	errNoRecipients   = reply(554, [3]int{5, 5, 1}, "No valid recipients")
	errNestedMail     = reply(503, [3]int{5, 5, 1}, "Nested MAIL command: end the transaction with DATA or RSET first")
	errLocalTempfail  = reply(451, [3]int{4, 3, 0}, "Local error, please try again later")
	errBareLF         = reply(554, [3]int{5, 6, 11}, "Bare CR or LF in message data is not allowed; use CRLF line endings")
	// NUL is in no message syntax sluice offers: RFC 5322 section 2.3 and
	// RFC 6152 (8BITMIME) exclude it, and only BINARYMIME (RFC 3030), which
	// sluice does not advertise, would allow it. Refused, not stripped: a
	// next hop that drops NULs would read "CRLF NUL . CRLF" as the end of
	// the data (a smuggling vector like bare LF), and stripping would
	// change a message its sender may have signed. Postfix passes NUL on
	// unless message_reject_characters or message_strip_characters says
	// otherwise; refusing is the stricter of its two options.
	errNUL            = reply(554, [3]int{5, 6, 0}, "Message contains NUL characters")
	errLeadingFold    = reply(554, [3]int{5, 6, 0}, "Message header begins with a continuation line")
	errHeaderTooLarge = reply(552, [3]int{5, 3, 4}, "Message header too large")
	errTooLarge       = reply(552, [3]int{5, 3, 4}, "Message too large")
	errLineTooLong    = reply(500, [3]int{5, 5, 2}, "Line too long")
	// The client's DATA cannot be read to its end; the connection closes.
	errLineTooLongClosing = reply(500, [3]int{5, 5, 2}, "Line too long, closing connection")
	errDataTimeout        = reply(421, [3]int{4, 4, 2}, "Timeout waiting for message data, closing connection")
	// data_timeout (with min_data_rate) ran out before the end of the data.
	errDataDeadline = reply(421, [3]int{4, 4, 2}, "Message data took too long, closing connection")
	// Message data came with the DATA command (pipelining.go).
	errPipelining  = reply(554, [3]int{5, 5, 0}, "Improper use of SMTP command pipelining: data sent before the 354 reply, closing connection")
	errDataAborted = reply(451, [3]int{4, 3, 0}, "Message transfer aborted")
)
