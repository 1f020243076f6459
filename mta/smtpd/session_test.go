package smtpd

import (
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mta/config"
)

// A DATA for a transaction in which sluice kept no recipient, and no
// filter discarded one, is refused: "250 queued" would lose the message.
func TestReceiveWithoutRecipients(t *testing.T) {
	srv := &Server{}
	srv.cfg.Store(&config.Config{})
	s := &session{srv: srv, hasFrom: true, cs: &connState{}}
	id, err := s.receive(strings.NewReader("Subject: x\r\n\r\nx\r\n"))
	if err != errNoRecipients {
		t.Fatalf("receive = %q, %v; want %v", id, err, errNoRecipients)
	}
}
