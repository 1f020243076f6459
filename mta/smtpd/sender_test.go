package smtpd_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/internal/relaytest"
)

// TestSenderBinding: over submission with AUTH, alice may give only her
// own addresses (relaytest binds her to @example.com) or the null sender
// as MAIL FROM (issue 21); any other is 553 5.7.1 and the transaction
// never starts. The same holds on port 25 once she has authenticated.
func TestSenderBinding(t *testing.T) {
	s := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, sinkDomains(s))

	c, err := smtp.DialStartTLS(r.Addr("submission"), r.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", relaytest.User, relaytest.Password)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from string
		code int
	}{
		{"ceo@bank.example", 553},
		{"alice@example.com.evil.test", 553},
		{"alice@" + relaytest.SenderDomain, 250},
		{"Alice@EXAMPLE.com", 250},
		{"", 250},
	} {
		err := c.Mail(tc.from, nil)
		var se *smtp.SMTPError
		switch {
		case tc.code == 250 && err != nil:
			t.Errorf("MAIL FROM:<%s>: %v, want 250", tc.from, err)
		case tc.code != 250 && (!errors.As(err, &se) || se.Code != tc.code || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1})):
			t.Errorf("MAIL FROM:<%s>: %v, want %d 5.7.1", tc.from, err, tc.code)
		}
		if err == nil {
			if err := c.Reset(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Her own address carries a message through.
	if err := c.Mail("alice@"+relaytest.SenderDomain, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("u@sink.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: bound\r\n\r\nhi\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if m := s.WaitMessages(t, 1)[0]; m.From != "alice@"+relaytest.SenderDomain {
		t.Errorf("delivered from %q", m.From)
	}

	// Port 25 with AUTH: bound too; without AUTH, mail to a served domain
	// may have any sender.
	rc := relaytest.DialRaw(t, r.Addr("smtp-insecure-auth"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<ceo@bank.example>", 250)
	rc.Cmd("RSET", 250)
	rc.Cmd("AUTH PLAIN "+plain(relaytest.User, relaytest.Password), 235)
	if msg := rc.Cmd("MAIL FROM:<ceo@bank.example>", 553); !strings.HasPrefix(msg, "5.7.1 ") {
		t.Errorf("reply %q, want 5.7.1", msg)
	}
	rc.Cmd("QUIT", 221)
}
