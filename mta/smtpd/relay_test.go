package smtpd_test

import (
	"fmt"
	"github.com/sluice-mail/sluice/internal/relaytest"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// sinkDomains routes "sink.test" (served) to s over SMTP.
func sinkDomains(s *relaytest.Sink) string {
	return fmt.Sprintf(`domain "sink.test" {
  deliver "smtp" {
    address = %q
    tls = "none"
  }
}
`, s.Addr)
}

// topReceived returns the first header field of a message, unfolded.
func topReceived(t *testing.T, data string) string {
	t.Helper()
	if !strings.HasPrefix(data, "Received: ") {
		t.Fatalf("message does not start with Received: %q", data[:min(len(data), 200)])
	}
	end := 0
	for {
		i := strings.Index(data[end:], "\r\n")
		if i < 0 {
			t.Fatal("unterminated header")
		}
		end += i + 2
		if end >= len(data) || (data[end] != ' ' && data[end] != '\t') {
			break
		}
	}
	return strings.Join(strings.Fields(data[:end]), " ")
}

type keywordCase struct {
	name     string
	listener string
	helo     bool // greet with HELO (raw dialog) instead of EHLO/LHLO
	starttls bool
	auth     bool
	utf8     bool
	want     string
}

// TestReceivedKeyword drives every RFC 3848 / RFC 6531 keyword with a real
// client over real TLS and checks the relay's own Received header.
func TestReceivedKeyword(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	cases := []keywordCase{
		{name: "HELO", listener: "smtp", helo: true, want: "SMTP"},
		{name: "EHLO", listener: "smtp", want: "ESMTP"},
		{name: "STARTTLS", listener: "smtp", starttls: true, want: "ESMTPS"},
		{name: "AUTH", listener: "smtp-insecure-auth", auth: true, want: "ESMTPA"},
		{name: "STARTTLS+AUTH", listener: "smtp", starttls: true, auth: true, want: "ESMTPSA"},
		{name: "submission", listener: "submission", starttls: true, auth: true, want: "ESMTPSA"},
		{name: "smtps", listener: "smtps", auth: true, want: "ESMTPSA"},
		{name: "LHLO", listener: "lmtp", want: "LMTP"},
		{name: "LMTP STARTTLS", listener: "lmtp", starttls: true, want: "LMTPS"},
		{name: "LMTP AUTH", listener: "lmtp-insecure-auth", auth: true, want: "LMTPA"},
		{name: "LMTP STARTTLS+AUTH", listener: "lmtp", starttls: true, auth: true, want: "LMTPSA"},
		{name: "SMTPUTF8", listener: "smtp", utf8: true, want: "UTF8SMTP"},
		{name: "SMTPUTF8 STARTTLS", listener: "smtp", starttls: true, utf8: true, want: "UTF8SMTPS"},
		{name: "SMTPUTF8 AUTH", listener: "smtp-insecure-auth", auth: true, utf8: true, want: "UTF8SMTPA"},
		{name: "SMTPUTF8 STARTTLS+AUTH", listener: "smtp", starttls: true, auth: true, utf8: true, want: "UTF8SMTPSA"},
		{name: "SMTPUTF8 smtps", listener: "smtps", auth: true, utf8: true, want: "UTF8SMTPSA"},
		{name: "LMTP SMTPUTF8", listener: "lmtp", utf8: true, want: "UTF8LMTP"},
		{name: "LMTP SMTPUTF8 STARTTLS+AUTH", listener: "lmtp", starttls: true, auth: true, utf8: true, want: "UTF8LMTPSA"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			subject := fmt.Sprintf("keyword case %d", i)
			body := "Subject: " + subject + "\r\n\r\nhello\r\n"
			if tc.helo {
				rc := relaytest.DialRaw(t, r.Addr(tc.listener))
				rc.Cmd("HELO client.test", 250)
				rc.Cmd("MAIL FROM:<a@example.com>", 250)
				rc.Cmd("RCPT TO:<u@sink.test>", 250)
				rc.Cmd("DATA", 354)
				rc.Send(body + ".\r\n")
				rc.Expect(250)
				rc.Cmd("QUIT", 221)
			} else {
				sendWith(t, r, tc, body)
			}
			var got string
			for _, m := range s.WaitMessages(t, i+1) {
				if strings.Contains(m.Data, subject+"\r\n") {
					got = topReceived(t, m.Data)
				}
			}
			if !strings.Contains(got, " with "+tc.want+" ") {
				t.Errorf("Received %q, want with %s", got, tc.want)
			}
			if tc.starttls || tc.listener == "smtps" {
				if !strings.Contains(got, "(TLS 1.3 ") {
					t.Errorf("Received %q lacks the TLS comment", got)
				}
			}
			if !strings.Contains(got, "by relay.test (sluice)") || !strings.Contains(got, "for <u@sink.test>") {
				t.Errorf("Received %q lacks by/for clauses", got)
			}
		})
	}
}

// sendWith sends one message as the case says: go-smtp's client for SMTP,
// and a line-level client for LMTP (go-smtp's client cannot STARTTLS there).
func sendWith(t *testing.T, r *relaytest.Relay, tc keywordCase, body string) {
	t.Helper()
	addr := r.Addr(tc.listener)
	if strings.HasPrefix(tc.listener, "lmtp") {
		rc := relaytest.DialRaw(t, addr)
		rc.Cmd("LHLO client.test", 250)
		if tc.starttls {
			rc.StartTLS(r.ClientTLS())
			rc.Cmd("LHLO client.test", 250)
		}
		if tc.auth {
			rc.Cmd("AUTH PLAIN "+plain(relaytest.User, relaytest.Password), 235)
		}
		mail := "MAIL FROM:<a@example.com>"
		if tc.utf8 {
			mail += " SMTPUTF8"
		}
		rc.Cmd(mail, 250)
		rc.Cmd("RCPT TO:<u@sink.test>", 250)
		rc.Cmd("DATA", 354)
		rc.Send(body + ".\r\n")
		rc.Expect(250) // one reply per recipient
		rc.Cmd("QUIT", 221)
		return
	}
	var c *smtp.Client
	var err error
	switch {
	case tc.listener == "smtps":
		c, err = smtp.DialTLS(addr, r.ClientTLS())
	case tc.starttls:
		c, err = smtp.DialStartTLS(addr, r.ClientTLS())
	default:
		c, err = smtp.Dial(addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tc.auth {
		if err := c.Auth(sasl.NewPlainClient("", relaytest.User, relaytest.Password)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Mail("a@example.com", &smtp.MailOptions{UTF8: tc.utf8}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("u@sink.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(body))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

// A client's forged Received header stays below the relay's own.
func TestForgedReceivedStaysBelow(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	forged := "Received: from trusted.example by mx.example with ESMTPSA id FORGED; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	body := forged + "Subject: forged\r\n\r\nhi\r\n"
	c, err := smtp.Dial(r.Addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("a@example.com", []string{"u@sink.test"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	m := s.WaitMessages(t, 1)[0]
	top := topReceived(t, m.Data)
	if !strings.Contains(top, "with ESMTP ") || strings.Contains(top, "FORGED") {
		t.Errorf("top Received %q", top)
	}
	// The client's bytes follow unchanged.
	if !strings.HasSuffix(m.Data, body) {
		t.Errorf("body changed: %q", m.Data)
	}
	if strings.Count(m.Data, "Received:") != 2 {
		t.Errorf("want exactly the relay's and the forged Received: %q", m.Data)
	}
}

func TestNoOpenRelay(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s)+fmt.Sprintf(`domain "*" {
  deliver "smtp" {
    address = %q
    tls = "none"
  }
}
`, s.Addr))
	// Untrusted (trusted_networks is empty), unauthenticated: foreign domain refused.
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<a@example.com>", 250)
	msg := rc.Cmd("RCPT TO:<victim@elsewhere.example>", 554)
	if !strings.HasPrefix(msg, "5.7.1 ") {
		t.Errorf("reply %q, want 5.7.1", msg)
	}
	// A served domain is still accepted in the same transaction.
	rc.Cmd("RCPT TO:<u@sink.test>", 250)
	rc.Cmd("QUIT", 221)

	// Authenticated: relaying through the catch-all is allowed.
	c, err := smtp.DialStartTLS(r.Addr("smtp"), r.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", relaytest.User, relaytest.Password)); err != nil {
		t.Fatal(err)
	}
	c.Mail("alice@example.com", nil)
	if err := c.Rcpt("friend@elsewhere.example", nil); err != nil {
		t.Fatalf("authenticated relay refused: %v", err)
	}
}

func TestTrustedNetworkMayRelay(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, fmt.Sprintf(`domain "*" {
  deliver "smtp" {
    address = %q
    tls = "none"
  }
}
`, s.Addr))
	// Set before the first connection; the server reads the config it was given.
	r.Cfg.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<a@example.com>", 250)
	rc.Cmd("RCPT TO:<x@elsewhere.example>", 250)
	rc.Cmd("DATA", 354)
	rc.Send("Subject: relayed\r\n\r\nhi\r\n.\r\n")
	rc.Expect(250)
	rc.Cmd("QUIT", 221)
	if m := s.WaitMessages(t, 1)[0]; m.Rcpts[0] != "x@elsewhere.example" {
		t.Errorf("relayed to %v", m.Rcpts)
	}
}

func TestAuthPolicy(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	// Submission: MAIL before AUTH is refused; AUTH is not offered before TLS.
	rc := relaytest.DialRaw(t, r.Addr("submission"))
	ehlo := rc.Cmd("EHLO client.test", 250)
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH offered without TLS: %q", ehlo)
	}
	rc.Cmd("MAIL FROM:<a@example.com>", 530)
	rc.Cmd("AUTH PLAIN "+plain(relaytest.User, relaytest.Password), 523) // 5.7.10: TLS required
	rc.Cmd("QUIT", 221)

	// Wrong password, then AUTH LOGIN succeeds.
	c, err := smtp.DialStartTLS(r.Addr("submission"), r.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", relaytest.User, "wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := c.Auth(sasl.NewPlainClient("", "nobody", relaytest.Password)); err == nil {
		t.Fatal("unknown user accepted")
	}
	if err := c.Auth(sasl.NewLoginClient(relaytest.User, relaytest.Password)); err != nil {
		t.Fatalf("AUTH LOGIN: %v", err)
	}
	if err := c.Mail("alice@example.com", nil); err != nil {
		t.Fatal(err)
	}
}

func plain(user, pass string) string {
	return b64("\x00" + user + "\x00" + pass)
}

// TestBadData covers smuggling-shaped and oversized DATA; each is refused
// with a 5xx and the session stays usable for a good message afterwards.
func TestBadData(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s)+`limits {
  max_message_size = "64KiB"
  max_header_size = "4KiB"
}`)
	cases := []struct {
		name string
		data string
		code int
		enh  string
	}{
		{"bare LF", "Subject: x\r\n\r\nline one\nline two\r\n", 554, "5.6.11"},
		{"bare CR", "Subject: x\r\n\r\nline one\rline two\r\n", 554, "5.6.11"},
		{"smuggled end of data", "Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@example.com>\r\n", 554, "5.6.11"},
		// A first line that continues the relay's own Received field.
		{"leading tab", "\tby trusted.example with ESMTPSA\r\nSubject: x\r\n\r\nhi\r\n", 554, "5.6.0"},
		{"leading space", " (authenticated as ceo)\r\nSubject: x\r\n\r\nhi\r\n", 554, "5.6.0"},
		{"header too large", "Subject: x\r\nX-Big: " + strings.Repeat("a", 900) + "\r\n" + strings.Repeat("X-Fill: "+strings.Repeat("b", 900)+"\r\n", 5) + "\r\nbody\r\n", 552, "5.3.4"},
		{"message too large", "Subject: x\r\n\r\n" + strings.Repeat(strings.Repeat("c", 998)+"\r\n", 70), 552, "5.3.4"},
	}
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	for _, tc := range cases {
		rc.Cmd("MAIL FROM:<a@example.com>", 250)
		rc.Cmd("RCPT TO:<u@sink.test>", 250)
		rc.Cmd("DATA", 354)
		rc.Send(tc.data + ".\r\n")
		if msg := rc.Expect(tc.code); !strings.HasPrefix(msg, tc.enh) {
			t.Errorf("%s: reply %q, want %s", tc.name, msg, tc.enh)
		}
	}
	// SIZE declared too large is refused at MAIL.
	rc.Cmd("MAIL FROM:<a@example.com> SIZE=1000000", 552)
	// The session still works.
	rc.Cmd("MAIL FROM:<a@example.com>", 250)
	rc.Cmd("RCPT TO:<u@sink.test>", 250)
	rc.Cmd("DATA", 354)
	rc.Send("Subject: good\r\n\r\nfine\r\n.\r\n")
	rc.Expect(250)
	rc.Cmd("QUIT", 221)
	msgs := s.WaitMessages(t, 1)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Data, "Subject: good") {
		t.Fatalf("sink got %d messages: %+v", len(msgs), msgs)
	}
	if r.Queue.Len() != 0 {
		// Give delivery a moment: the good message may still be in flight.
		s.WaitMessages(t, 1)
	}
}

// Pipelined commands and 8-bit/UTF-8 content pass through byte-exact.
func TestPipeliningAndEightBitPassThrough(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))
	body := "Subject: =?utf-8?q?caf=C3=A9?=\r\nFrom: Zoë <zoe@example.com>\r\n\r\nNaïve café — ünïcödé\r\n..leading dot\r\n"
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	ehlo := rc.Cmd("EHLO client.test", 250)
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE", "STARTTLS", "DSN"} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO lacks %s: %q", ext, ehlo)
		}
	}
	rc.Send("MAIL FROM:<zoë@example.com> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<u@sink.test>\r\nDATA\r\n")
	rc.Expect(250)
	rc.Expect(250)
	rc.Expect(354)
	rc.Send(body + ".\r\n")
	rc.Expect(250)
	rc.Cmd("QUIT", 221)
	m := s.WaitMessages(t, 1)[0]
	// Dot-stuffing is undone on receipt and redone on delivery.
	want := strings.Replace(body, "..leading", ".leading", 1)
	if !strings.HasSuffix(m.Data, want) {
		t.Errorf("got %q, want suffix %q", m.Data, want)
	}
	if m.From != "zoë@example.com" {
		t.Errorf("sender %q", m.From)
	}
}

func TestLMTPPerRecipient(t *testing.T) {
	// The next hop is an LMTP server that refuses one recipient after DATA.
	lm := relaytest.StartSink(t, true, func(rcpt string) error {
		if strings.HasPrefix(rcpt, "full@") {
			return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
		}
		return nil
	})
	r := relaytest.StartRelay(t, fmt.Sprintf(`domain "lmtp.test" {
  deliver "lmtp" { address = %q }
}
`, lm.Addr))
	// LMTP in: each recipient gets its own reply after DATA.
	conn, err := net.Dial("tcp", r.Addr("lmtp"))
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	// lmtp listener clients are untrusted here; lmtp.test is served.
	c.Mail("a@example.com", nil)
	for _, rc := range []string{"one@lmtp.test", "full@lmtp.test", "two@lmtp.test"} {
		if err := c.Rcpt(rc, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: lmtp\r\n\r\nhi\r\n"))
	resp, err := w.CloseWithLMTPResponse()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) != 3 {
		t.Fatalf("got %d LMTP replies: %v", len(resp), resp)
	}
	// LMTP out: the accepted two arrive; the refused one is not retried.
	msgs := lm.WaitMessages(t, 1)
	if got := strings.Join(msgs[0].Rcpts, ","); got != "one@lmtp.test,two@lmtp.test" {
		t.Errorf("delivered to %s", got)
	}
	waitQueueEmpty(t, r)
	if n := len(lm.Messages()); n != 1 {
		t.Errorf("LMTP server got %d deliveries, want 1 (no retry of the permanent failure)", n)
	}
}

func waitQueueEmpty(t *testing.T, r *relaytest.Relay) {
	t.Helper()
	for i := 0; r.Queue.Len() > 0; i++ {
		if i > 3000 {
			t.Fatalf("queue still has %d messages", r.Queue.Len())
		}
		sleep10ms()
	}
}

func TestConnectionLimits(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s)+`limits {
  max_connections_per_ip = 2
}`)
	a := relaytest.DialRaw(t, r.Addr("smtp"))
	b := relaytest.DialRaw(t, r.Addr("smtp"))
	c, err := net.Dial("tcp", r.Addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 200)
	n, _ := c.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "421 4.7.0 ") {
		t.Errorf("third connection got %q", buf[:n])
	}
	// Closing one frees its slot.
	a.Cmd("QUIT", 221)
	a.C.Close()
	for i := 0; ; i++ {
		d, err := net.Dial("tcp", r.Addr("smtp"))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := d.Read(buf)
		d.Close()
		if strings.HasPrefix(string(buf[:n]), "220 ") {
			break
		}
		if i > 500 {
			t.Fatal("slot never freed")
		}
		sleep10ms()
	}
	b.Cmd("NOOP", 250)
}

// TestAdmission: never accept what cannot be stored, and per-client rates.
func TestAdmission(t *testing.T) {
	dead := relaytest.FreeAddr(t) // nothing listens: mail stays queued
	route := fmt.Sprintf("domain \"sink.test\" {\n  deliver \"smtp\" {\n    address = %q\n    tls = \"none\"\n  }\n}\n", dead)
	cases := []struct {
		name   string
		limits string
		sends  int // messages accepted before the refusal
		code   int
		enh    string
	}{
		{"queue full", "queue {\n  retry_min = \"1h\"\n  retry_max = \"2h\"\n  max_messages = 1\n}\n", 1, 452, "4.3.1"},
		{"disk nearly full", "queue {\n  min_free_disk = \"1000000TiB\"\n}\n", 0, 452, "4.3.1"},
		{"per-IP rate", "limits {\n  max_messages_per_ip_per_minute = 2\n}\n", 2, 451, "4.7.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := relaytest.StartRelay(t, route+tc.limits)
			rc := relaytest.DialRaw(t, r.Addr("smtp"))
			rc.Cmd("EHLO client.test", 250)
			for range tc.sends {
				rc.Cmd("MAIL FROM:<a@example.com>", 250)
				rc.Cmd("RCPT TO:<u@sink.test>", 250)
				rc.Cmd("DATA", 354)
				rc.Send("Subject: x\r\n\r\nx\r\n.\r\n")
				rc.Expect(250)
			}
			if got := rc.Cmd("MAIL FROM:<a@example.com>", tc.code); !strings.HasPrefix(got, tc.enh) {
				t.Errorf("reply %q, want %s", got, tc.enh)
			}
		})
	}
}

// TestShutdownRightAfterStart: a relay stopped as soon as it started shuts
// down. go-smtp's Shutdown closes only the listeners its Serve goroutines
// have registered; one not yet running used to accept forever, and the
// shutdown waited for it (a CI run hung so).
func TestShutdownRightAfterStart(t *testing.T) {
	for i := range 20 { // a hang fails the test binary's timeout, with every stack
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			relaytest.StartRelay(t, `domain "example.com" {
  deliver "maildir" { path = "/nonexistent" }
}`)
		})
	}
}

// TestMaildirRecipientRefusedAtRcpt: a local part a Maildir cannot store
// (it would name another directory) is refused at RCPT with 550 5.1.3, not
// accepted with 250 and bounced at delivery.
func TestMaildirRecipientRefusedAtRcpt(t *testing.T) {
	r := relaytest.StartRelay(t, fmt.Sprintf(`domain "local.test" {
  deliver "maildir" { path = %q }
}`, t.TempDir()+"/{local}"))
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<a@example.com>", 250)
	for _, tc := range []struct {
		rcpt string
		code int
	}{
		{"a/b@local.test", 550},
		{"..@local.test", 550},
		{"ok@local.test", 250},
		{"Also.OK+tag@local.test", 250},
	} {
		got := rc.Cmd("RCPT TO:<"+tc.rcpt+">", tc.code)
		if tc.code == 550 && !strings.HasPrefix(got, "5.1.3") {
			t.Errorf("%s: %q, want 5.1.3", tc.rcpt, got)
		}
	}
	rc.Cmd("QUIT", 221)
}
