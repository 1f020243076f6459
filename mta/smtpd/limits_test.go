package smtpd_test

import (
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/internal/relaytest"
)

// TestDomainLimits: a domain block's max_recipients and max_message_size
// apply to its own recipients (452 4.5.3 at RCPT; 552 5.3.4 at RCPT for a
// declared SIZE, at DATA for the data), beside the server-wide
// max_recipients and the SIZE it advertises.
func TestDomainLimits(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, fmt.Sprintf(`limits {
  max_recipients   = 3
  max_message_size = "64KiB"
}
domain "small.test" {
  max_recipients   = 2
  max_message_size = "1KiB"
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
domain "big.test" {
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
`, s.Addr, s.Addr))
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("y", 70)+"\r\n", 20) // 1.4 KiB
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	if ehlo := rc.Cmd("EHLO client.test", 250); !strings.Contains(ehlo, "SIZE 65536") {
		t.Errorf("EHLO does not advertise the server-wide SIZE: %q", ehlo)
	}
	rc.Cmd("MAIL FROM:<a@example.com>", 250)
	rc.Cmd("RCPT TO:<one@small.test>", 250)
	rc.Cmd("RCPT TO:<two@small.test>", 250)
	if msg := rc.Cmd("RCPT TO:<three@small.test>", 452); !strings.HasPrefix(msg, "4.5.3 ") {
		t.Errorf("third small.test recipient: %q, want 4.5.3", msg)
	}
	rc.Cmd("RCPT TO:<one@big.test>", 250)
	rc.Cmd("RCPT TO:<two@big.test>", 452) // server-wide max_recipients: 3 accepted
	rc.Cmd("DATA", 354)
	rc.Send(big + ".\r\n")
	if msg := rc.Expect(552); !strings.HasPrefix(msg, "5.3.4 ") {
		t.Errorf("data above small.test's limit: %q, want 5.3.4", msg)
	}
	rc.Cmd("MAIL FROM:<a@example.com> SIZE=2000", 250)
	if msg := rc.Cmd("RCPT TO:<one@small.test>", 552); !strings.HasPrefix(msg, "5.3.4 ") {
		t.Errorf("declared SIZE above small.test's limit: %q, want 5.3.4", msg)
	}
	rc.Cmd("RCPT TO:<one@big.test>", 250)
	rc.Cmd("DATA", 354)
	rc.Send(big + ".\r\n")
	rc.Expect(250)
	rc.Cmd("QUIT", 221)
	if m := s.WaitMessages(t, 1); len(m) != 1 || strings.Join(m[0].Rcpts, ",") != "one@big.test" {
		t.Errorf("sink got %+v, want the big message for one@big.test alone", m)
	}
}

// TestUserMessageRate: max_messages_per_user_per_minute counts an
// authenticated user's transactions, from any address: past it, MAIL gets
// 451 4.7.1.
func TestUserMessageRate(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s)+"limits {\n  max_messages_per_user_per_minute = 2\n}\n")
	for i := range 3 {
		c, err := smtp.Dial(r.Addr("smtp-insecure-auth"))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Auth(sasl.NewPlainClient("", relaytest.User, relaytest.Password)); err != nil {
			t.Fatal(err)
		}
		err = c.SendMail("alice@example.com", []string{"u@sink.test"}, strings.NewReader("Subject: rate\r\n\r\nhi\r\n"))
		var se *smtp.SMTPError
		switch {
		case i < 2 && err != nil:
			t.Fatalf("message %d: %v", i+1, err)
		case i == 2 && (!errors.As(err, &se) || se.Code != 451 || se.EnhancedCode != smtp.EnhancedCode{4, 7, 1}):
			t.Errorf("message 3: %v, want 451 4.7.1", err)
		}
		c.Close()
	}
	// The limit is the user's: an unauthenticated client is not counted in it.
	c, err := smtp.Dial(r.Addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("b@example.com", []string{"u@sink.test"}, strings.NewReader("Subject: other\r\n\r\nhi\r\n")); err != nil {
		t.Errorf("unauthenticated client refused: %v", err)
	}
}

// TestLMTPUnixSocket: an lmtp listener on a unix socket accepts LHLO and
// gives a reply per recipient after DATA; a local client may relay (its
// socket's permissions are its access control), and the trace says so.
func TestLMTPUnixSocket(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	r := relaytest.StartRelay(t, sinkDomains(s)+fmt.Sprintf(`listener "lmtp-unix" {
  kind    = "lmtp"
  address = "unix:%s"
}
domain "*" {
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
`, sock, s.Addr))
	if got := r.Server.Addr("lmtp-unix"); got == nil || got.Network() != "unix" {
		t.Fatalf("lmtp-unix listens on %v", got)
	}
	// Whoever may connect may relay: the socket is not left to the umask.
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v (%v), want the default 0660", fi.Mode().Perm(), err)
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := textproto.NewConn(conn)
	defer c.Close()
	cmd := func(line string, want int) {
		t.Helper()
		if line != "" {
			c.PrintfLine("%s", line)
		}
		if code, msg, err := c.ReadResponse(want); err != nil {
			t.Fatalf("%q: %d %s: %v", line, code, msg, err)
		}
	}
	cmd("", 220)
	cmd("LHLO client.test", 250)
	cmd("MAIL FROM:<a@example.com>", 250)
	cmd("RCPT TO:<u@sink.test>", 250)
	cmd("RCPT TO:<x@elsewhere.example>", 250) // relayed: not a served domain
	cmd("DATA", 354)
	c.PrintfLine("Subject: over a unix socket\r\n\r\nhi\r\n.")
	cmd("", 250)
	cmd("", 250) // one reply per recipient
	cmd("QUIT", 221)
	msgs := s.WaitMessages(t, 1)
	top := topReceived(t, msgs[0].Data)
	if !strings.Contains(top, "from client.test (local)") || !strings.Contains(top, " with LMTP ") {
		t.Errorf("Received %q, want a local LMTP client", top)
	}
}

// TestIdleTimeout: a client that says nothing for read_timeout is told so
// with 421 4.4.2 and disconnected.
func TestIdleTimeout(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s)+"limits {\n  read_timeout = \"200ms\"\n}\n")
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	if msg := rc.Expect(421); !strings.HasPrefix(msg, "4.4.2 ") {
		t.Errorf("idle client got %q, want 4.4.2", msg)
	}
}
