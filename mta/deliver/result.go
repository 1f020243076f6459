package deliver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/sdk/mailbox"
)

// localError is a failure that sluice decides itself (a policy or a local
// resource), expressed with the reply code and enhanced status code
// (RFC 3463) that a queue and a DSN expect.
type localError struct {
	code     int
	enhanced string
	text     string
}

func (e *localError) Error() string { return fmt.Sprintf("%d %s %s", e.code, e.enhanced, e.text) }

func localErr(code int, enhanced, format string, args ...any) *localError {
	return &localError{code: code, enhanced: enhanced, text: fmt.Sprintf(format, args...)}
}

// maxTextLen bounds reply text kept in a Result: a hostile peer may send
// long replies, and the text ends up in logs and bounces.
const maxTextLen = 512

// cleanText makes peer-supplied text safe to log and quote in a bounce:
// printable, one line, bounded.
func cleanText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxTextLen {
			b.WriteString("...")
			break
		}
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || r == '\uFFFD':
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// replyResult turns a reply from a peer into a Result. Codes outside
// 2xx-5xx are protocol violations and count as transient.
func replyResult(rcpt string, code int, enh smtp.EnhancedCode, text string) Result {
	r := Result{Rcpt: rcpt, Code: code, Text: cleanText(text)}
	if enh != smtp.NoEnhancedCode && enh != smtp.EnhancedCodeNotSet {
		r.Enhanced = fmt.Sprintf("%d.%d.%d", enh[0], enh[1], enh[2])
	}
	switch {
	case code >= 500 && code < 600:
		r.Permanent = true
	case code >= 200 && code < 500:
	default:
		r = Result{Rcpt: rcpt, Text: cleanText(fmt.Sprintf("unexpected reply code %d: %s", code, text))}
	}
	return r
}

// successResult records a 2xx final reply whose text may begin with an
// enhanced status code (go-smtp returns it unparsed).
func successResult(rcpt, text string) Result {
	enh := ""
	if first, rest, ok := strings.Cut(text, " "); ok && isEnhanced(first) && first[0] == '2' {
		enh, text = first, rest
	}
	return Result{Rcpt: rcpt, Code: 250, Enhanced: enh, Text: cleanText(text)}
}

func isEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || len(p) > 3 {
			return false
		}
	}
	return true
}

// classify maps any error met while delivering to a Result: replies keep
// their code, local decisions their synthetic code, and everything else
// (network errors, timeouts, garbage, cancellation) is a transient failure
// with Code 0. what names the step and peer for the text.
func classify(ctx context.Context, rcpt, what string, err error) Result {
	var le *localError
	if errors.As(err, &le) {
		return Result{Rcpt: rcpt, Code: le.code, Enhanced: le.enhanced, Text: le.text, Permanent: le.code >= 500}
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return replyResult(rcpt, se.Code, se.EnhancedCode, se.Message)
	}
	if what != "" {
		what += ": "
	}
	if ctx.Err() != nil {
		return Result{Rcpt: rcpt, Text: cleanText(fmt.Sprintf("%sdelivery interrupted: %v", what, context.Cause(ctx)))}
	}
	return Result{Rcpt: rcpt, Text: cleanText(what + err.Error())}
}

// fill returns one copy of r per recipient.
func fill(rcpts []string, r Result) []Result {
	out := make([]Result, len(rcpts))
	for i, rc := range rcpts {
		out[i] = r
		out[i].Rcpt = rc
	}
	return out
}

// validSender reports whether a can be written into a command or header
// line as it is: the null sender, or an address by the rule MAIL took it
// under (mailbox.Check).
func validSender(a string) bool { return a == "" || mailbox.Valid(a) }

// splitAddress splits local@domain at the last '@'.
func splitAddress(a string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(a, '@')
	if i <= 0 || i == len(a)-1 {
		return "", "", false
	}
	return a[:i], a[i+1:], true
}
