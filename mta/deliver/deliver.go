// Package deliver hands spooled messages to their next hop: a Maildir, an
// LMTP server, a fixed SMTP relay, or the MX hosts of the recipient domain.
//
// Every transport reports one Result per recipient so that the queue can
// finish, retry or bounce each recipient on its own.
package deliver

import (
	"context"
	"fmt"
	"io"
)

// Message is a spooled message as a transport sees it. Open may be called
// more than once (for instance once per MX host tried).
type Message struct {
	ID   string // queue id, for logs and Maildir file names
	From string // envelope sender; "" is the null sender <>
	// UTF8 is set when the message was received with SMTPUTF8 and must be sent with it.
	UTF8 bool
	// EightBit is set when the message was received with BODY=8BITMIME.
	EightBit bool
	Size     int64
	Open     func() (io.ReadCloser, error) // the whole message, CRLF line endings
}

// Result is the outcome for one recipient.
type Result struct {
	Rcpt     string
	Code     int    // SMTP reply code; 250 on success; 0 when no reply was received
	Enhanced string // enhanced status code such as "5.1.1", "" if none
	Text     string // reply text or a description of a local/network error
	// Permanent is true when retrying cannot help (5xx, or a permanent local error).
	Permanent bool
}

// OK reports whether the recipient was delivered.
func (r Result) OK() bool { return r.Code >= 200 && r.Code < 300 }

func (r Result) String() string {
	if r.Enhanced != "" {
		return fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Text)
	}
	if r.Code != 0 {
		return fmt.Sprintf("%d %s", r.Code, r.Text)
	}
	return r.Text
}

// Transport delivers one message to recipients that share a destination.
type Transport interface {
	// Deliver returns exactly one Result per recipient, in the order given.
	// It must honour ctx for cancellation and never panic on a hostile peer.
	Deliver(ctx context.Context, msg *Message, rcpts []string) []Result
	// Close releases cached connections.
	Close() error
}
