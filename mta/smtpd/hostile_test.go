package smtpd_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/relaytest"
)

// Dialogs a hostile or broken client can produce, driven over raw TCP.

// TestSTARTTLSInjection: commands pipelined in the same packet as STARTTLS
// (CVE-2011-0411) are discarded, not run after the handshake as if the
// client had sent them over TLS.
func TestSTARTTLSInjection(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Send("STARTTLS\r\nMAIL FROM:<injected@example.com>\r\nRCPT TO:<u@sink.test>\r\n")
	rc.Expect(220)
	tc := tls.Client(rc.C, r.ClientTLS())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tp := textproto.NewConn(tc)
	tp.PrintfLine("EHLO client.test")
	if code, msg, err := tp.ReadResponse(250); err != nil {
		t.Fatalf("EHLO after STARTTLS: %d %s %v (an injected reply came first?)", code, msg, err)
	}
	// No transaction was started by the injected MAIL.
	tp.PrintfLine("RCPT TO:<u@sink.test>")
	if code, msg, _ := tp.ReadResponse(0); code/100 != 5 {
		t.Fatalf("RCPT without MAIL after STARTTLS: %d %s, want 5xx", code, msg)
	}
}

// A MAIL inside a transaction is refused (RFC 5321 section 4.1.4): it used
// to be accepted, leaving go-smtp with the first transaction's recipients
// and sluice with none, so the DATA got "250 queued" and was dropped.
func TestNestedMail(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	for _, listener := range []string{"smtp", "lmtp"} {
		t.Run(listener, func(t *testing.T) {
			rc := relaytest.DialRaw(t, r.Addr(listener))
			greet := "EHLO"
			if listener == "lmtp" {
				greet = "LHLO"
			}
			rc.Cmd(greet+" client.test", 250)
			rc.Cmd("MAIL FROM:<a@example.com>", 250)
			rc.Cmd("RCPT TO:<u@sink.test>", 250)
			if msg := rc.Cmd("MAIL FROM:<b@example.com>", 503); !strings.HasPrefix(msg, "5.5.1 ") {
				t.Errorf("nested MAIL: %q, want 5.5.1", msg)
			}
			// The first transaction is intact and is queued.
			rc.Cmd("DATA", 354)
			rc.Send("Subject: nested " + listener + "\r\n\r\nhi\r\n.\r\n")
			if msg := rc.Expect(250); !strings.Contains(msg, "queued") {
				t.Errorf("DATA: %q", msg)
			}
			rc.Cmd("QUIT", 221)
		})
	}
	msgs := s.WaitMessages(t, 2)
	for _, m := range msgs {
		if m.From != "a@example.com" {
			t.Errorf("delivered from %q, want the first transaction's sender", m.From)
		}
	}
}

// queueFiles lists the queue directory but for spool files kept for reuse
// (recycle.go): the messages not yet delivered and anything left behind.
func queueFiles(t *testing.T, r *relaytest.Relay) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(r.DataDir, "queue"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".free") {
			names = append(names, e.Name())
		}
	}
	return names
}

// A recipient given twice in one transaction is queued (and delivered)
// once; the domain is compared without case. It used to be delivered once
// per RCPT. On LMTP each RCPT still gets its reply after DATA.
func TestDuplicateRecipient(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	for i, listener := range []string{"smtp", "lmtp"} {
		t.Run(listener, func(t *testing.T) {
			rc := relaytest.DialRaw(t, r.Addr(listener))
			greet := "EHLO"
			if listener == "lmtp" {
				greet = "LHLO"
			}
			rc.Cmd(greet+" client.test", 250)
			rc.Cmd("MAIL FROM:<a@example.com>", 250)
			rcpts := []string{"u@sink.test", "u@sink.test", "u@SINK.Test", "v@sink.test", "u@sink.test"}
			for _, to := range rcpts {
				rc.Cmd("RCPT TO:<"+to+">", 250)
			}
			rc.Cmd("DATA", 354)
			rc.Send("Subject: dup " + listener + "\r\n\r\nhi\r\n.\r\n")
			replies := 1
			if listener == "lmtp" {
				replies = len(rcpts)
			}
			for range replies {
				rc.Expect(250)
			}
			rc.Cmd("QUIT", 221)
			msgs := s.WaitMessages(t, i+1)
			if got := strings.Join(msgs[i].Rcpts, ","); got != "u@sink.test,v@sink.test" {
				t.Errorf("delivered to %s, want u@sink.test,v@sink.test", got)
			}
			waitQueueEmpty(t, r)
			if n := len(s.Messages()); n != i+1 {
				t.Errorf("sink has %d messages, want %d", n, i+1)
			}
		})
	}
}

// STARTTLS discards what the client did before it, AUTH included (RFC 3207
// section 4.2): sluice kept the user authenticated in plaintext, so after
// the handshake the client could relay, and could not AUTH again.
func TestAuthDoesNotSurviveSTARTTLS(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, fmt.Sprintf(`domain "*" {
  deliver "smtp" {
    address = %q
    tls = "none"
  }
}
`, s.Addr))
	rc := relaytest.DialRaw(t, r.Addr("smtp-insecure-auth"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("AUTH PLAIN "+plain(relaytest.User, relaytest.Password), 235)
	rc.StartTLS(r.ClientTLS())
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<a@example.com>", 250)
	if msg := rc.Cmd("RCPT TO:<x@elsewhere.example>", 554); !strings.HasPrefix(msg, "5.7.1 ") {
		t.Errorf("relay after STARTTLS without AUTH: %q, want 5.7.1", msg)
	}
	rc.Cmd("RSET", 250)
	rc.Cmd("AUTH PLAIN "+plain(relaytest.User, relaytest.Password), 235)
	rc.Cmd("MAIL FROM:<a@example.com>", 250)
	rc.Cmd("RCPT TO:<x@elsewhere.example>", 250)
}

// max_line_length (CRLF included) holds for BDAT as for DATA: go-smtp
// checks it on DATA only, so a BDAT message could carry lines of any
// length. A refused chunk leaves the session usable (its length frames it).
// The long line comes after 5000 bytes of short ones: go-smtp applies its
// line limit to chunk bytes it buffered while reading the BDAT command,
// and closes the connection if the long line is among them.
func TestBDATLineLength(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s)+"limits {\n  max_line_length = 1000\n}\n")
	cases := []struct {
		name string
		line int // length of the long body line, CRLF included
		code int
	}{
		{"at the limit", 1000, 250},
		{"one over", 1001, 500},
		{"far over", 100000, 500},
		{"over, in the header", -1001, 500},
	}
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	for _, tc := range cases {
		fill := strings.Repeat("X-Fill: "+strings.Repeat("f", 90)+"\r\n", 50)
		var msg string
		if tc.line > 0 {
			msg = "Subject: " + tc.name + "\r\n" + fill + "\r\n" + strings.Repeat("x", tc.line-2) + "\r\nend\r\n"
		} else {
			msg = "Subject: " + tc.name + "\r\n" + fill + "X-Long: " + strings.Repeat("h", -tc.line-10) + "\r\n\r\nbody\r\n"
		}
		rc.Cmd("MAIL FROM:<a@example.com>", 250)
		rc.Cmd("RCPT TO:<u@sink.test>", 250)
		rc.Send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg), msg))
		if got := rc.Expect(tc.code); tc.code == 500 && !strings.HasPrefix(got, "5.5.2 ") {
			t.Errorf("%s: %q, want 5.5.2", tc.name, got)
		}
	}
	rc.Cmd("NOOP", 250)
	msgs := s.WaitMessages(t, 1)
	waitQueueEmpty(t, r)
	if len(s.Messages()) != 1 || !strings.Contains(msgs[0].Data, "Subject: at the limit\r\n") {
		t.Errorf("sink got %d messages, want only the one at the limit", len(s.Messages()))
	}
}

// lastWords reads what the relay sends until it closes the connection,
// failing if it is still open after d.
func lastWords(t *testing.T, c net.Conn, d time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection still open after %v (%v); got %q", d, err, b)
	}
	return string(b)
}

// TestStalledClient: a client that goes quiet for read_timeout gets one
// 421 4.4.2 and the connection closes. In message data go-smtp used to
// answer (451 "Local error" for DATA, 554 with the Go error for BDAT) and
// read on, so message text sent after the pause was run as commands.
// Ten transactions' worth of such text is sent after the pause; nothing
// may come of it.
func TestStalledClient(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s)+"limits {\n  read_timeout = \"1s\"\n}\n")
	injected := strings.Repeat("\r\n.\r\nRSET\r\nMAIL FROM:<injected@example.com>\r\nRCPT TO:<u@sink.test>\r\nDATA\r\nSubject: injected\r\n\r\n.\r\n", 10)
	cases := []struct {
		name, listener string
		starttls       bool
		bdat           bool
		auth           bool // stall in an AUTH LOGIN exchange instead
		want           string
	}{
		{name: "DATA", listener: "smtp", want: "421 4.4.2 Timeout waiting for message data"},
		{name: "DATA over TLS", listener: "smtp", starttls: true, want: "421 4.4.2 Timeout waiting for message data"},
		{name: "DATA on smtps", listener: "smtps", want: "421 4.4.2 Timeout waiting for message data"},
		{name: "BDAT", listener: "smtp", bdat: true, want: "421 4.4.2 Timeout waiting for message data"},
		{name: "BDAT over TLS", listener: "smtp", starttls: true, bdat: true, want: "421 4.4.2 Timeout waiting for message data"},
		{name: "LMTP DATA", listener: "lmtp", want: "421 4.4.2 <u@sink.test> Timeout waiting for message data"},
		{name: "AUTH LOGIN", listener: "smtp", starttls: true, auth: true, want: "421 4.4.2 Idle timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rc *relaytest.Conn
			if tc.listener == "smtps" {
				c, err := tls.Dial("tcp", r.Addr("smtps"), r.ClientTLS())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				rc = relaytest.NewConn(t, c)
			} else {
				rc = relaytest.DialRaw(t, r.Addr(tc.listener))
			}
			greet := "EHLO client.test"
			if tc.listener == "lmtp" {
				greet = "LHLO client.test"
			}
			rc.Cmd(greet, 250)
			if tc.starttls {
				rc.StartTLS(r.ClientTLS())
				rc.Cmd(greet, 250)
			}
			if tc.listener == "smtps" {
				rc.Cmd("AUTH PLAIN "+plain(relaytest.User, relaytest.Password), 235)
			}
			switch {
			case tc.auth:
				rc.Cmd("AUTH LOGIN", 334)
			case tc.bdat:
				rc.Cmd("MAIL FROM:<a@example.com>", 250)
				rc.Cmd("RCPT TO:<u@sink.test>", 250)
				rc.Send("BDAT 100000 LAST\r\nSubject: stalled\r\n\r\nfirst line\r\n")
			default:
				rc.Cmd("MAIL FROM:<a@example.com>", 250)
				rc.Cmd("RCPT TO:<u@sink.test>", 250)
				rc.Cmd("DATA", 354)
				rc.Send("Subject: stalled\r\n\r\nfirst line\r\n")
			}
			time.Sleep(1500 * time.Millisecond)
			rc.C.Write([]byte(injected)) // may fail: the relay may have closed
			if got := lastWords(t, rc.C, 10*time.Second); !strings.HasPrefix(got, tc.want) || strings.Count(got, "\n") != 1 {
				t.Errorf("after the pause: %q, want one line %q...", got, tc.want)
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(s.Messages()); n != 0 || r.Queue.Len() != 0 {
		t.Errorf("%d messages delivered, %d queued; want none", n, r.Queue.Len())
	}
	if files := queueFiles(t, r); len(files) != 0 {
		t.Errorf("queue directory holds %v", files)
	}
}

// read_timeout bounds each read of message data, not the whole message: a
// client that keeps sending may take longer than read_timeout in all. It
// used to be one deadline from the DATA command on, so a large message on
// a slow link could never be sent.
func TestSlowSteadyData(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s)+"limits {\n  read_timeout = \"1s\"\n}\n")
	for _, bdat := range []bool{false, true} {
		rc := relaytest.DialRaw(t, r.Addr("smtp"))
		rc.Cmd("EHLO client.test", 250)
		rc.Cmd("MAIL FROM:<a@example.com>", 250)
		rc.Cmd("RCPT TO:<u@sink.test>", 250)
		line := "a line of a message sent slowly\r\n"
		const n = 12 // 12 * 250ms: three times read_timeout
		if bdat {
			rc.Send(fmt.Sprintf("BDAT %d LAST\r\n", len("Subject: slow\r\n\r\n")+n*len(line)))
		} else {
			rc.Cmd("DATA", 354)
		}
		rc.Send("Subject: slow\r\n\r\n")
		for range n {
			time.Sleep(250 * time.Millisecond)
			rc.Send(line)
		}
		if !bdat {
			rc.Send(".\r\n")
		}
		rc.Expect(250)
		rc.Cmd("QUIT", 221)
	}
	s.WaitMessages(t, 2)
}

// A line longer than max_line_length in DATA gets one reply and the
// connection closes (go-smtp cannot read the rest of the data); it used to
// get two replies, 500 5.5.2 and go-smtp's 500 5.4.0.
func TestDataLineTooLongClosesOnce(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s)+"limits {\n  max_line_length = 1000\n}\n")
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<a@example.com>", 250)
	rc.Cmd("RCPT TO:<u@sink.test>", 250)
	rc.Cmd("DATA", 354)
	rc.Send("Subject: long\r\n\r\n" + strings.Repeat("x", 5000) + "\r\n.\r\nNOOP\r\n")
	if got := lastWords(t, rc.C, 10*time.Second); got != "500 5.5.2 Line too long, closing connection\r\n" {
		t.Errorf("got %q", got)
	}
}

// A failed STARTTLS handshake closes the connection: go-smtp answered 550
// in plaintext and went on reading plaintext commands from a client that
// had switched to TLS.
func TestFailedSTARTTLSHandshakeCloses(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("STARTTLS", 220)
	rc.Send("this is not a TLS client hello\r\nMAIL FROM:<a@example.com>\r\n")
	if got := lastWords(t, rc.C, 10*time.Second); !strings.HasPrefix(got, "550 ") || strings.Count(got, "\n") != 1 {
		t.Errorf("got %q, want one 550 line and the end", got)
	}
}

// AUTH with responses a client should never send: the replies are
// permanent and say what was wrong, and the session stays usable.
func TestMalformedAuth(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	cases := []struct {
		name  string
		lines []string // the command, then the responses to 334 challenges
		code  int
		enh   string
	}{
		{"PLAIN without NULs", []string{"AUTH PLAIN " + b64("alice secret")}, 501, "5.5.2"},
		{"PLAIN empty initial response", []string{"AUTH PLAIN ="}, 501, "5.5.2"},
		{"PLAIN empty response", []string{"AUTH PLAIN", "="}, 501, "5.5.2"},
		{"PLAIN one NUL", []string{"AUTH PLAIN " + b64("\x00alice")}, 501, "5.5.2"},
		{"PLAIN cancelled", []string{"AUTH PLAIN", "*"}, 501, "5.0.0"},
		{"PLAIN other identity", []string{"AUTH PLAIN " + b64("bob\x00"+relaytest.User+"\x00"+relaytest.Password)}, 535, "5.7.8"},
		{"PLAIN long password", []string{"AUTH PLAIN " + b64("\x00"+relaytest.User+"\x00"+strings.Repeat("p", 3000))}, 535, "5.7.8"},
		{"LOGIN cancelled", []string{"AUTH LOGIN", "*"}, 501, "5.0.0"},
		{"unknown mechanism", []string{"AUTH CRAM-MD5"}, 504, "5.7.4"},
		{"no mechanism", []string{"AUTH"}, 502, "5.5.4"},
	}
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.StartTLS(r.ClientTLS())
	rc.Cmd("EHLO client.test", 250)
	for _, tc := range cases {
		for _, l := range tc.lines[:len(tc.lines)-1] {
			rc.Cmd(l, 334)
		}
		if got := rc.Cmd(tc.lines[len(tc.lines)-1], tc.code); !strings.HasPrefix(got, tc.enh+" ") {
			t.Errorf("%s: %d %q, want %s", tc.name, tc.code, got, tc.enh)
		}
	}
	rc.Cmd("AUTH PLAIN "+plain(relaytest.User, relaytest.Password), 235)
}

// A non-ASCII envelope address needs SMTPUTF8 on MAIL (RFC 6531): without
// it the address was queued and sent on in a MAIL or RCPT without
// SMTPUTF8, which the next hop may refuse or misread.
func TestNonASCIIAddressNeedsSMTPUTF8(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	cases := []struct {
		mail, rcpt     string
		mailCode, code int
	}{
		{"MAIL FROM:<zoë@example.com>", "", 553, 0},
		{"MAIL FROM:<a@bücher.test>", "", 553, 0},
		{"MAIL FROM:<a@example.com>", "RCPT TO:<zoë@sink.test>", 250, 553},
		{"MAIL FROM:<a@example.com>", "RCPT TO:<u@bücher.test>", 250, 553},
		{"MAIL FROM:<zoë@example.com> SMTPUTF8", "RCPT TO:<zoë@sink.test>", 250, 250},
		{"MAIL FROM:<a@example.com>", "RCPT TO:<u@sink.test>", 250, 250},
	}
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	for _, tc := range cases {
		got := rc.Cmd(tc.mail, tc.mailCode)
		if tc.mailCode == 553 && !strings.HasPrefix(got, "5.6.7 ") {
			t.Errorf("%s: %q, want 5.6.7", tc.mail, got)
		}
		if tc.rcpt != "" {
			if got := rc.Cmd(tc.rcpt, tc.code); tc.code == 553 && !strings.HasPrefix(got, "5.6.7 ") {
				t.Errorf("%s: %q, want 5.6.7", tc.rcpt, got)
			}
		}
		rc.Cmd("RSET", 250)
	}
}

// A BDAT transfer cut short (RSET, EHLO, a chunk over the size limit) and
// a new transaction pipelined right after it: the new BDAT LAST gets its
// own reply. go-smtp's goroutine for the cut transfer could hand its 451
// to the new transaction, whose message was queued all the same, so the
// client sent it again (in a run of 200, 139 got 451 and 194 were
// delivered).
func TestBDATCutShortThenNewTransaction(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s)+"limits {\n  max_message_size = \"64KiB\"\n}\n")
	msg := "Subject: after a cut BDAT\r\n\r\nhello\r\n"
	next := fmt.Sprintf("MAIL FROM:<a@example.com>\r\nRCPT TO:<u@sink.test>\r\nBDAT %d LAST\r\n%sNOOP\r\n", len(msg), msg)
	start := "MAIL FROM:<a@example.com>\r\nRCPT TO:<u@sink.test>\r\nBDAT 5\r\nSubje"
	cuts := []struct{ name, cut string }{
		{"RSET", "RSET\r\n"},
		{"EHLO", "EHLO client.test\r\n"},
		{"chunk too large", "BDAT 70000\r\n" + strings.Repeat(strings.Repeat("z", 98)+"\r\n", 700)},
	}
	const rounds = 40
	sent := 0
	for _, tc := range cuts {
		c, err := net.Dial("tcp", r.Addr("smtp"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		br := bufio.NewReader(c)
		br.ReadString('\n')
		io.WriteString(c, "EHLO client.test\r\n")
		for l := ""; !strings.HasPrefix(l, "250 "); {
			if l, err = br.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
		}
		for i := range rounds {
			io.WriteString(c, start+tc.cut+next)
			var last string
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("%s, round %d: %v", tc.name, i, err)
				}
				if strings.Contains(l, "successfully done nothing") {
					break
				}
				if !strings.HasPrefix(l, "250-") {
					last = strings.TrimSpace(l)
				}
			}
			if !strings.Contains(last, "queued as") {
				t.Errorf("%s, round %d: the new transaction's BDAT LAST got %q", tc.name, i, last)
			}
			sent++
		}
	}
	s.WaitMessages(t, sent)
	waitQueueEmpty(t, r)
	if n := len(s.Messages()); n != sent {
		t.Errorf("%d messages delivered, %d sent", n, sent)
	}
}

// NUL octets in message data are refused with 554 5.6.0, on DATA and BDAT,
// in the header and in the body: they were passed on verbatim, and a next
// hop that drops NULs reads "CRLF NUL . CRLF" as the end of the data. The
// session stays usable and nothing is queued.
func TestNULInData(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	cases := []struct{ name, msg string }{
		{"in the header", "Subject: a\x00b\r\n\r\nhi\r\n"},
		{"in the body", "Subject: nul\r\n\r\nhi\x00there\r\n"},
		{"smuggled end of data", "Subject: nul\r\n\r\nhi\r\n\x00.\r\nMAIL FROM:<x@example.com>\r\n"},
	}
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	for _, tc := range cases {
		for _, bdat := range []bool{false, true} {
			rc.Cmd("MAIL FROM:<a@example.com>", 250)
			rc.Cmd("RCPT TO:<u@sink.test>", 250)
			if bdat {
				rc.Send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(tc.msg), tc.msg))
			} else {
				rc.Cmd("DATA", 354)
				rc.Send(tc.msg + ".\r\n")
			}
			if got := rc.Expect(554); !strings.HasPrefix(got, "5.6.0 ") {
				t.Errorf("%s (BDAT %v): %q, want 5.6.0", tc.name, bdat, got)
			}
		}
	}
	rc.Cmd("NOOP", 250)
	time.Sleep(200 * time.Millisecond)
	if n := len(s.Messages()); n != 0 || r.Queue.Len() != 0 {
		t.Errorf("%d messages delivered, %d queued; want none", n, r.Queue.Len())
	}
}

// data_timeout bounds a whole message, not each read: a client that sends
// a byte every 100ms never trips read_timeout, and used to hold the
// connection as long as it liked. It is cut with 421 4.4.2 and nothing is
// queued. min_data_rate extends the deadline for a client that keeps
// sending at that rate, however long the message takes.
func TestDataDeadline(t *testing.T) {
	cases := []struct {
		name   string
		limits string
		bdat   bool
		steady bool // send a 34-byte line every 250ms (136 bytes/s), else a byte every 100ms
		want   string
	}{
		{name: "DATA trickle", limits: `data_timeout = "300ms"` + "\n" + `min_data_rate = "1KiB"`, want: "421 4.4.2 Message data took too long"},
		{name: "BDAT trickle", limits: `data_timeout = "300ms"` + "\n" + `min_data_rate = "1KiB"`, bdat: true, want: "421 4.4.2 Message data took too long"},
		{name: "DATA steady above min_data_rate", limits: `data_timeout = "1s"` + "\n" + `min_data_rate = 100`, steady: true, want: "250 "},
		{name: "BDAT steady above min_data_rate", limits: `data_timeout = "1s"` + "\n" + `min_data_rate = 100`, bdat: true, steady: true, want: "250 "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := relaytest.StartSink(t, false, nil)
			r := relaytest.StartRelay(t, sinkDomains(s)+"limits {\n"+tc.limits+"\n}\n")
			rc := relaytest.DialRaw(t, r.Addr("smtp"))
			rc.Cmd("EHLO client.test", 250)
			rc.Cmd("MAIL FROM:<a@example.com>", 250)
			rc.Cmd("RCPT TO:<u@sink.test>", 250)
			head, piece, n, every := "Subject: slow\r\n\r\n", "x", 30, 100*time.Millisecond
			if tc.steady {
				piece, n, every = "a line of a message sent slowly\r\n", 12, 250*time.Millisecond
			}
			body := head + strings.Repeat(piece, n)
			if !tc.steady {
				body += "\r\n"
			}
			if tc.bdat {
				rc.Send(fmt.Sprintf("BDAT %d LAST\r\n", len(body)))
			} else {
				rc.Cmd("DATA", 354)
			}
			rc.Send(head)
			for range n {
				time.Sleep(every)
				if _, err := io.WriteString(rc.C, piece); err != nil {
					break // cut
				}
			}
			if !tc.steady {
				io.WriteString(rc.C, "\r\n")
			}
			if !tc.bdat {
				io.WriteString(rc.C, ".\r\n")
			}
			if tc.steady {
				rc.Expect(250)
				s.WaitMessages(t, 1)
				return
			}
			if got := lastWords(t, rc.C, 10*time.Second); !strings.HasPrefix(got, tc.want) || strings.Count(got, "\n") != 1 {
				t.Errorf("got %q, want one line %q... and the end", got, tc.want)
			}
			time.Sleep(200 * time.Millisecond)
			if n := len(s.Messages()); n != 0 || r.Queue.Len() != 0 {
				t.Errorf("%d messages delivered, %d queued; want none", n, r.Queue.Len())
			}
			if files := queueFiles(t, r); len(files) != 0 {
				t.Errorf("queue directory holds %v", files)
			}
		})
	}
}

// Message data sent with the DATA command, before the 354 reply, is
// refused as improper pipelining (RFC 2920 section 3.1): 554 5.5.0 and the
// connection closes, nothing queued. It used to be accepted. A client that
// pipelines up to DATA and waits for 354, as RFC 2920 allows, is served.
func TestImproperPipelining(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	const msg = "Subject: early\r\n\r\nhi\r\n.\r\n"
	cases := []struct {
		name, listener string
		starttls       bool
		send           string // after the greeting; then the replies in want
		want           []int
		wait354        bool // the client waits for 354, then sends msg
	}{
		{name: "DATA with the message", listener: "smtp", send: "MAIL FROM:<a@example.com>\r\nRCPT TO:<u@sink.test>\r\nDATA\r\n" + msg, want: []int{250, 250, 354, 554}},
		{name: "one byte early", listener: "smtp", send: "MAIL FROM:<a@example.com>\r\nRCPT TO:<u@sink.test>\r\nDATA\r\nS", want: []int{250, 250, 354, 554}},
		{name: "over TLS", listener: "smtp", starttls: true, send: "MAIL FROM:<a@example.com>\r\nRCPT TO:<u@sink.test>\r\nDATA\r\n" + msg, want: []int{250, 250, 354, 554}},
		{name: "LMTP", listener: "lmtp", send: "MAIL FROM:<a@example.com>\r\nRCPT TO:<u@sink.test>\r\nDATA\r\n" + msg, want: []int{250, 250, 354, 554}},
		{name: "pipelined up to DATA, then waits", listener: "smtp", send: "MAIL FROM:<a@example.com>\r\nRCPT TO:<u@sink.test>\r\nDATA\r\n", want: []int{250, 250, 354}, wait354: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := relaytest.DialRaw(t, r.Addr(tc.listener))
			greet := "EHLO client.test"
			if tc.listener == "lmtp" {
				greet = "LHLO client.test"
			}
			rc.Cmd(greet, 250)
			if tc.starttls {
				rc.StartTLS(r.ClientTLS())
				rc.Cmd(greet, 250)
			}
			rc.Send(tc.send)
			if tc.wait354 {
				for _, code := range tc.want {
					rc.Expect(code)
				}
				rc.Send(msg)
				rc.Expect(250)
				rc.Cmd("QUIT", 221)
				return
			}
			// Every reply, then the end (the replies are read raw: the
			// connection must close after the last).
			got := strings.Split(strings.TrimSuffix(lastWords(t, rc.C, 10*time.Second), "\r\n"), "\r\n")
			var codes []string
			for _, l := range got {
				codes = append(codes, l[:min(3, len(l))])
			}
			if want := strings.Trim(fmt.Sprint(tc.want), "[]"); strings.Join(codes, " ") != want || !strings.HasPrefix(got[len(got)-1], "554 5.5.0 ") {
				t.Errorf("got %q, want replies %s, the last 5.5.0, and the end", got, want)
			}
		})
	}
	s.WaitMessages(t, 1)
	waitQueueEmpty(t, r)
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages delivered, want only the one sent after 354", n)
	}
}

// MAIL and RCPT hold addresses to the rule the plugin host holds a
// filter's to (sdk/mailbox): at most 254 bytes, the longest that fits the
// 256-octet path of RFC 5321 section 4.5.3.1.3 (MAIL took 320 before, which
// the next hop need not), and written back as it came: a quoted local part
// that go-smtp unquotes to one with a space could not be.
func TestAddressRule(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	long := func(n int, domain string) string {
		return strings.Repeat("a", n-len(domain)-1) + "@" + domain
	}
	cases := []struct {
		mail, rcpt     string
		mailCode, code int
	}{
		{"MAIL FROM:<" + long(254, "example.com") + ">", "RCPT TO:<" + long(254, "sink.test") + ">", 250, 250},
		{"MAIL FROM:<" + long(255, "example.com") + ">", "", 553, 0},
		{"MAIL FROM:<" + long(320, "example.com") + ">", "", 553, 0},
		{"MAIL FROM:<a@example.com>", "RCPT TO:<" + long(255, "sink.test") + ">", 250, 553},
		{`MAIL FROM:<"john doe"@example.com>`, "", 553, 0},
		{"MAIL FROM:<a@example.com>", `RCPT TO:<"a,b"@sink.test>`, 250, 553},
		{"MAIL FROM:<a@exa_mple.com>", "", 553, 0},
		{"MAIL FROM:<>", "RCPT TO:<Also.OK+tag@sink.test>", 250, 250},
	}
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	for _, tc := range cases {
		if got := rc.Cmd(tc.mail, tc.mailCode); tc.mailCode == 553 && !strings.HasPrefix(got, "5.1.7 ") {
			t.Errorf("%s: %q, want 5.1.7", tc.mail, got)
		}
		if tc.rcpt != "" {
			if got := rc.Cmd(tc.rcpt, tc.code); tc.code == 553 && !strings.HasPrefix(got, "5.1.3 ") {
				t.Errorf("%s: %q, want 5.1.3", tc.rcpt, got)
			}
		}
		rc.Cmd("RSET", 250)
	}
}
