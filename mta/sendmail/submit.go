package sendmail

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Exit codes of sysexits.h, which sendmail(1) returns and its callers
// (cron, PHP, scripts) read.
const (
	ExOK          = 0
	ExUsage       = 64 // EX_USAGE: bad arguments, no recipients
	ExDataErr     = 65 // EX_DATAERR: the message or sender is refused
	ExNoUser      = 67 // EX_NOUSER: a recipient is refused
	ExUnavailable = 69 // EX_UNAVAILABLE: refused for another reason
	ExSoftware    = 70 // EX_SOFTWARE
	ExOSErr       = 71 // EX_OSERR: no user name
	ExIOErr       = 74 // EX_IOERR: reading the message failed
	ExTempFail    = 75 // EX_TEMPFAIL: try again later
	ExNoPerm      = 77 // EX_NOPERM: refused by policy
	ExConfig      = 78 // EX_CONFIG: no usable configuration or listener
)

// Error is a failure with the exit code sendmail returns for it.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Relay is where and how to submit.
type Relay struct {
	Network, Address string // for net.Dial
	LMTP             bool
	Hello            string // EHLO/LHLO name
	// Timeout bounds the connection and each command (0: one minute);
	// the end of the data waits up to five times as long, for filters.
	Timeout time.Duration
	// Debug, when set, gets the SMTP dialog (sendmail -v).
	Debug io.Writer
}

// Envelope is the SMTP envelope of a submission.
type Envelope struct {
	From string // "" is the null sender
	To   []string
	Mail smtp.MailOptions
	Rcpt smtp.RcptOptions
}

// Submit sends msg to every recipient through the relay and returns nil
// once the relay has taken responsibility for all of them (250 at the end
// of the data), or an *Error.
//
// A recipient refused with 452 after others were accepted (too many
// recipients for one transaction, or one whose domain runs other filters:
// docs/config.md, domain filters) goes in a further transaction, as RFC
// 5321 section 4.5.3.1.10 asks of clients. Any other refusal aborts the
// transaction, so that either every recipient gets the message or, as far
// as one transaction goes, none does: the caller can then safely try
// again. Only when a later transaction fails after an earlier one was
// accepted has part of the mail gone; the error says to whom.
func Submit(r Relay, env Envelope, msg []byte) error {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	conn, err := net.DialTimeout(r.Network, r.Address, timeout)
	if err != nil {
		return &Error{ExTempFail, fmt.Errorf("the relay does not answer at %s: %w", r.Address, err)}
	}
	var c *smtp.Client
	if r.LMTP {
		c = smtp.NewClientLMTP(conn)
	} else {
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.DebugWriter = r.Debug
	c.CommandTimeout = timeout
	c.SubmissionTimeout = 5 * timeout
	if err := c.Hello(r.Hello); err != nil {
		return classify("greeting", "", err, nil)
	}
	opts := env.Mail
	opts.Size = int64(len(msg))
	pending := env.To
	var done []string
	for len(pending) > 0 {
		if err := c.Mail(env.From, &opts); err != nil {
			return classify("MAIL FROM:<"+env.From+">", "", err, done)
		}
		var accepted, later []string
		for _, to := range pending {
			err := c.Rcpt(to, &env.Rcpt)
			var se *smtp.SMTPError
			switch {
			case err == nil:
				accepted = append(accepted, to)
			case len(accepted) > 0 && errors.As(err, &se) && se.Code == 452:
				later = append(later, to)
			default:
				c.Reset()
				return classify("RCPT TO:<"+to+">", to, err, done)
			}
		}
		if err := data(c, r.LMTP, msg); err != nil {
			return classify("end of data", "", err, done)
		}
		done = append(done, accepted...)
		pending = later
	}
	c.Quit()
	return nil
}

func data(c *smtp.Client, lmtp bool, msg []byte) error {
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if lmtp {
		// Per recipient: any refusal fails the submission (it names them).
		_, err = w.CloseWithLMTPResponse()
		return err
	}
	_, err = w.CloseWithResponse()
	return err
}

// classify turns a failed step into an *Error with the exit code that
// fits the reply: 4xx or no reply at all is temporary (75); a 5xx is
// policy (77) when its enhanced code is 5.7.x, else for a recipient an
// unknown user (67), for the sender or the data bad data (65), otherwise
// unavailable (69). done lists recipients an earlier transaction delivered.
func classify(step, rcpt string, err error, done []string) *Error {
	msg := fmt.Sprintf("%s: %v", step, err)
	if len(done) > 0 {
		msg += fmt.Sprintf(" (the message was already accepted for %s)", strings.Join(done, ", "))
	}
	out := &Error{Code: ExTempFail, Err: errors.New(msg)}
	var se *smtp.SMTPError
	var lmtpErr smtp.LMTPDataError
	switch {
	case errors.As(err, &lmtpErr):
		// The worst reply decides: a permanent one over a temporary one.
		for _, e := range lmtpErr {
			if c := codeFor(e, step, rcpt); out.Code == ExTempFail || c != ExTempFail {
				out.Code = c
			}
		}
	case errors.As(err, &se):
		out.Code = codeFor(se, step, rcpt)
	}
	return out
}

func codeFor(se *smtp.SMTPError, step, rcpt string) int {
	switch {
	case se.Code < 500 || se.Code > 599:
		return ExTempFail
	case se.EnhancedCode[0] == 5 && se.EnhancedCode[1] == 7:
		return ExNoPerm
	case rcpt != "":
		return ExNoUser
	case strings.HasPrefix(step, "MAIL"), step == "end of data":
		return ExDataErr
	}
	return ExUnavailable
}
