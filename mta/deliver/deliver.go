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
	// DSN is what the client asked of delivery status notifications
	// (RFC 3461); an SMTP next hop that offers DSN is given it with the
	// message. nil when the client asked nothing.
	DSN *DSN
}

// DSN holds the RFC 3461 parameters of a message.
type DSN struct {
	Ret   string // RET: "FULL", "HDRS" or ""
	EnvID string // ENVID, or ""
	// Rcpt holds each recipient's NOTIFY and ORCPT, by address.
	Rcpt map[string]RcptDSN
}

// RcptDSN is the RFC 3461 parameters of one recipient.
type RcptDSN struct {
	Notify []string // SUCCESS, FAILURE, DELAY, or NEVER alone
	ORcpt  string   // "type;address", or ""
}

// Result is the outcome for one recipient.
type Result struct {
	Rcpt     string
	Code     int    // SMTP reply code; 250 on success; 0 when no reply was received
	Enhanced string // enhanced status code such as "5.1.1", "" if none
	Text     string // reply text or a description of a local/network error
	// Permanent is true when retrying cannot help (5xx, or a permanent local error).
	Permanent bool
	// Relayed is set on success when the message went on to another SMTP
	// server rather than into a mailbox (Maildir, LMTP): a success report
	// for it says "relayed" (RFC 3461 section 5.2.2), or nothing when
	// DSNPassed.
	Relayed bool
	// DSNPassed is set with Relayed when that server offers DSN and was
	// given the message's DSN parameters (RFC 3461 section 5.2.1): what
	// happens next is its to report.
	DSNPassed bool
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

// A RecipientChecker is a Transport that can tell, before a message is
// accepted, that it will never deliver to an address (a maildir refuses
// local parts that are not one safe directory name), so the relay refuses
// it at RCPT instead of bouncing after 250.
type RecipientChecker interface {
	CheckRecipient(addr string) error
}
