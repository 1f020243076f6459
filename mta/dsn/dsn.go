// Package dsn builds and sends delivery status notifications (RFC 3464):
// bounces, delay warnings and success reports for NOTIFY=SUCCESS (RFC 3461).
package dsn

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
)

// Action is a recipient's outcome (RFC 3464 section 2.3.3).
type Action string

const (
	Failed    Action = "failed"
	Delayed   Action = "delayed"
	Delivered Action = "delivered"
	// Relayed: passed on to a next hop that does not report success
	// itself (RFC 3461 section 5.2.2).
	Relayed Action = "relayed"
)

// Recipient is one per-recipient block of a report.
type Recipient struct {
	Addr string // the address we tried (Final-Recipient)
	// ORcpt is the ORCPT parameter as "type;address" (Original-Recipient), or "".
	ORcpt  string
	Action Action
	// Status is the RFC 3463 code x.y.z; "" derives it from Reply and Action.
	Status string
	// Reply is the last SMTP reply ("550 5.1.1 no such user") or a local
	// error without a code. Replies with a code become Diagnostic-Code.
	Reply       string
	LastAttempt time.Time
	// WillRetryUntil is reported for delayed recipients when set.
	WillRetryUntil time.Time
}

// Report is everything a notification says.
type Report struct {
	Hostname string // Reporting-MTA, and the domain of From and Message-ID
	To       string // the original envelope sender, who receives the report
	EnvID    string // ENVID given at MAIL, or ""
	Arrival  time.Time
	// ReceivedFrom is the HELO name of the client that handed us the message, or "".
	ReceivedFrom string
	Recipients   []Recipient
	// Return is "FULL" to return the whole original (up to MaxFull bytes);
	// anything else returns its header only (RFC 3461 section 4.3).
	Return  string
	MaxFull int64
	Date    time.Time // Date of the report; zero is now
}

// Limits on what is copied from the original message.
const (
	DefaultMaxFull = 512 << 10
	maxHeader      = 64 << 10
	maxField       = 900 // a field value; keeps every line under the 998 limit
)

// Result tells the caller how to send what Build wrote.
type Result struct {
	// EightBit is set when the report contains 8-bit bytes (from the
	// original message or UTF-8 addresses) and needs 8BITMIME.
	EightBit bool
	// UTF8 is set when an address in the report is not ASCII (SMTPUTF8).
	UTF8 bool
	// Truncated is set when RET=FULL was asked but only the header was returned.
	Truncated bool
}

// Build writes the notification for r to w, reading the original message
// (CRLF line endings, as spooled) from original.
func Build(w io.Writer, r *Report, original io.Reader) (Result, error) {
	var res Result
	if len(r.Recipients) == 0 {
		return res, errors.New("dsn: no recipients to report")
	}
	if r.Hostname == "" {
		return res, errors.New("dsn: no reporting hostname")
	}
	date := r.Date
	if date.IsZero() {
		date = time.Now()
	}
	maxFull := r.MaxFull
	if maxFull <= 0 {
		maxFull = DefaultMaxFull
	}

	// What of the original to return.
	full := strings.EqualFold(r.Return, "FULL")
	orig, complete, err := readOriginal(original, full, maxFull)
	if err != nil {
		return res, fmt.Errorf("dsn: reading the original message: %w", err)
	}
	if full && !complete {
		res.Truncated = true
		full = false
	}
	if !full {
		orig = headerOf(orig)
	}
	origEncoding := "7bit"
	if hasHighBit(orig) {
		origEncoding, res.EightBit = "8bit", true
	}
	if !isASCII(r.To) {
		res.UTF8 = true
	}
	for _, rc := range r.Recipients {
		if !isASCII(rc.Addr) || !isASCII(rc.ORcpt) {
			res.UTF8 = true
		}
	}
	if res.UTF8 {
		res.EightBit = true
	}

	// go-message writes fields in the reverse order of Set; the reverse
	// order here gives From, To, Subject... on the wire.
	var h message.Header
	h.SetContentType("multipart/report", map[string]string{"report-type": "delivery-status"})
	h.Set("MIME-Version", "1.0")
	h.Set("Auto-Submitted", "auto-replied") // RFC 3834 section 5
	h.Set("Message-Id", "<"+newToken()+"@"+clean(r.Hostname)+">")
	h.Set("Date", date.Format(time.RFC1123Z))
	h.Set("Subject", subject(r.Recipients))
	h.Set("To", "<"+clean(r.To)+">")
	h.Set("From", "Mail Delivery System <MAILER-DAEMON@"+clean(r.Hostname)+">")
	mw, err := message.CreateWriter(w, h)
	if err != nil {
		return res, err
	}

	// 1. The human-readable explanation (RFC 3462 requires it first).
	var th message.Header
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	th.Set("Content-Description", "Notification")
	pw, err := mw.CreatePart(th)
	if err != nil {
		return res, err
	}
	if _, err := io.WriteString(pw, humanText(r, res.Truncated)); err != nil {
		return res, err
	}
	if err := pw.Close(); err != nil {
		return res, err
	}

	// 2. The machine-readable status.
	var sh message.Header
	sh.SetContentType("message/delivery-status", nil)
	sh.Set("Content-Description", "Delivery report")
	if res.UTF8 {
		sh.Set("Content-Transfer-Encoding", "8bit")
	} else {
		sh.Set("Content-Transfer-Encoding", "7bit")
	}
	pw, err = mw.CreatePart(sh)
	if err != nil {
		return res, err
	}
	if _, err := io.WriteString(pw, statusText(r)); err != nil {
		return res, err
	}
	if err := pw.Close(); err != nil {
		return res, err
	}

	// 3. The original, whole or its header only.
	var oh message.Header
	if full {
		oh.SetContentType("message/rfc822", nil)
		oh.Set("Content-Description", "Undelivered message")
	} else {
		oh.SetContentType("text/rfc822-headers", nil)
		oh.Set("Content-Description", "Undelivered message headers")
	}
	oh.Set("Content-Transfer-Encoding", origEncoding)
	pw, err = mw.CreatePart(oh)
	if err != nil {
		return res, err
	}
	if _, err := pw.Write(orig); err != nil {
		return res, err
	}
	if err := pw.Close(); err != nil {
		return res, err
	}
	return res, mw.Close()
}

func subject(rs []Recipient) string {
	var failed, delayed bool
	for _, r := range rs {
		failed = failed || r.Action == Failed
		delayed = delayed || r.Action == Delayed
	}
	switch {
	case failed:
		return "Undelivered Mail Returned to Sender"
	case delayed:
		return "Delayed Mail (still being retried)"
	default:
		return "Successful Mail Delivery Report"
	}
}

func humanText(r *Report, truncated bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "This is the mail system at host %s.\r\n\r\n", clean(r.Hostname))
	sections := []struct {
		action Action
		intro  string
	}{
		{Failed, "Your message could not be delivered to the following recipients.\r\nThis is a permanent error; it will not be retried."},
		{Delayed, "Your message has not yet been delivered to the following recipients.\r\nIt is still in the queue and delivery will be retried; you do not need to resend it."},
		{Delivered, "Your message was delivered to the following recipients, as you asked\r\nto be told."},
		{Relayed, "Your message was passed on to the next mail system of the following\r\nrecipients. That system does not send delivery reports, so this is the\r\nlast report you will get about them."},
	}
	for _, s := range sections {
		first := true
		for _, rc := range r.Recipients {
			if rc.Action != s.action {
				continue
			}
			if first {
				b.WriteString(s.intro + "\r\n\r\n")
				first = false
			}
			fmt.Fprintf(&b, "<%s>:\r\n", clean(rc.Addr))
			if rc.Reply != "" {
				fmt.Fprintf(&b, "    %s\r\n", clean(rc.Reply))
			}
			if rc.Action == Delayed && !rc.WillRetryUntil.IsZero() {
				fmt.Fprintf(&b, "    Delivery will be attempted until %s.\r\n", rc.WillRetryUntil.Format(time.RFC1123Z))
			}
			b.WriteString("\r\n")
		}
	}
	if truncated {
		b.WriteString("The original message was too large to be returned in full; its header is attached.\r\n")
	}
	return b.String()
}

func statusText(r *Report) string {
	var b strings.Builder
	field := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	field("Reporting-MTA", "dns; "+clean(r.Hostname))
	if r.ReceivedFrom != "" {
		field("Received-From-MTA", "dns; "+clean(r.ReceivedFrom))
	}
	if r.EnvID != "" {
		field("Original-Envelope-Id", clean(r.EnvID))
	}
	if !r.Arrival.IsZero() {
		field("Arrival-Date", r.Arrival.Format(time.RFC1123Z))
	}
	for _, rc := range r.Recipients {
		b.WriteString("\r\n")
		field("Final-Recipient", addrType(rc.Addr)+"; "+clean(rc.Addr))
		if typ, addr, ok := strings.Cut(rc.ORcpt, ";"); ok && typ != "" && addr != "" {
			field("Original-Recipient", clean(typ)+";"+clean(addr))
		}
		field("Action", string(rc.Action))
		field("Status", Status(rc.Action, rc.Reply, rc.Status))
		if code, rest := splitCode(diagnosticReply(rc.Reply)); code != 0 {
			field("Diagnostic-Code", "smtp; "+clean(strconv.Itoa(code)+" "+rest))
		}
		if !rc.LastAttempt.IsZero() {
			field("Last-Attempt-Date", rc.LastAttempt.Format(time.RFC1123Z))
		}
		if rc.Action == Delayed && !rc.WillRetryUntil.IsZero() {
			field("Will-Retry-Until", rc.WillRetryUntil.Format(time.RFC1123Z))
		}
	}
	return b.String()
}

// addrType is the address-type of Final-Recipient: rfc822, or utf-8 for an
// internationalised address (RFC 6533 section 3).
func addrType(addr string) string {
	if isASCII(addr) {
		return "rfc822"
	}
	return "utf-8"
}

// expiredPrefix is how the queue marks a recipient that failed because it
// stayed queued too long: "expired after 120h0m0s: <last reply>".
const expiredPrefix = "expired after "

// diagnosticReply strips the queue's expiry note, leaving the remote reply.
func diagnosticReply(reply string) string {
	if rest, ok := strings.CutPrefix(reply, expiredPrefix); ok {
		if _, r, ok := strings.Cut(rest, ": "); ok {
			return r
		}
	}
	return reply
}

// Status returns the RFC 3463 status for a recipient: explicit if valid,
// else the enhanced code of the reply if it agrees with the action, else
// a generic code of the action's class. An expired recipient is 4.4.7
// (delivery time expired).
func Status(a Action, reply, explicit string) string {
	if validStatus(explicit) {
		return explicit
	}
	if a == Failed && strings.HasPrefix(reply, expiredPrefix) {
		return "4.4.7"
	}
	want := map[Action]byte{Failed: '5', Delayed: '4', Delivered: '2', Relayed: '2'}[a]
	if want == 0 {
		want = '5'
	}
	_, rest := splitCode(reply)
	if enh, _, _ := strings.Cut(rest, " "); validStatus(enh) && enh[0] == want {
		return enh
	}
	return string(want) + ".0.0"
}

// splitCode splits "550 rest" into 550 and "rest"; code 0 when reply does
// not start with a three-digit reply code.
func splitCode(reply string) (int, string) {
	if len(reply) < 3 {
		return 0, reply
	}
	code, err := strconv.Atoi(reply[:3])
	if err != nil || code < 200 || code > 599 || (len(reply) > 3 && reply[3] != ' ' && reply[3] != '-') {
		return 0, reply
	}
	return code, strings.TrimSpace(reply[3:])
}

func validStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.ContainsAny(parts[0], "245") {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 {
			return false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// clean makes s safe as (part of) a header field value: no control
// characters (so no line breaks a peer could inject), valid UTF-8, bounded.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxField {
		cut := maxField
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// readOriginal reads up to limit bytes of the original (or just enough for
// its header when !full). complete reports whether the whole message fit.
func readOriginal(r io.Reader, full bool, limit int64) (data []byte, complete bool, err error) {
	if !full {
		limit = maxHeader
	}
	br := bufio.NewReader(io.LimitReader(r, limit+1))
	if !full {
		// Stop at the end of the header.
		var buf bytes.Buffer
		midLine := false // the previous read ended inside a long line
		for {
			line, err := br.ReadSlice('\n')
			buf.Write(line)
			if err == bufio.ErrBufferFull {
				midLine = true
				continue
			}
			if err == io.EOF {
				return buf.Bytes(), true, nil
			}
			if err != nil {
				return nil, false, err
			}
			if !midLine && len(bytes.TrimRight(line, "\r\n")) == 0 {
				return buf.Bytes(), true, nil
			}
			midLine = false
		}
	}
	data, err = io.ReadAll(br)
	if err != nil {
		return nil, false, err
	}
	if int64(len(data)) > limit {
		return data[:limit], false, nil
	}
	return data, true, nil
}

// headerOf returns the header of msg (up to and including the blank line),
// at most maxHeader bytes ending on a whole line, with CRLF line endings.
func headerOf(msg []byte) []byte {
	var out []byte
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		var line []byte
		if i < 0 {
			line, msg = msg, nil
		} else {
			line, msg = msg[:i+1], msg[i+1:]
		}
		body := bytes.TrimRight(line, "\r\n")
		if len(body) == 0 {
			break // the blank line ends the header; text/rfc822-headers carries none
		}
		if len(out)+len(body)+2 > maxHeader {
			break
		}
		out = append(out, body...)
		out = append(out, '\r', '\n')
	}
	return out
}

func hasHighBit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

func isASCII(s string) bool { return !hasHighBit([]byte(s)) }

func newToken() string {
	var b [12]byte
	rand.Read(b[:])
	return strconv.FormatInt(time.Now().Unix(), 36) + "." + hex.EncodeToString(b[:])
}
