package plugin

import (
	"fmt"
	"io"
	"net/netip"
)

// Session is what the relay knows about one SMTP connection.
type Session struct {
	ID                     string
	ClientIP               netip.Addr
	ClientPort             int
	Listener, ListenerKind string
	TLS                    bool
	TLSVersion, TLSCipher  string
	Helo                   string
	HeloExtended           bool // EHLO or LHLO rather than HELO
	AuthUser               string
	Trusted                bool // in trusted_networks, or on a unix socket
}

// Txn is one mail transaction of a session.
type Txn struct {
	Session    *Session
	QueueID    string
	From       string // "" is the null sender
	MailParams map[string]string
	Recipients []Recipient // accepted so far
	// Policy holds the filters' data-stage changes to the relay's rules
	// (policy.go); the zero Policy checks only what needs no relay.
	Policy Policy
}

// Recipient is one RCPT TO.
type Recipient struct {
	Addr   string            `json:"addr"`
	Params map[string]string `json:"params,omitempty"`
}

// HeaderField is one header field with its raw value (see ReadMessage).
type HeaderField struct{ Name, Value string }

// Message is a received message as the data stage sees it. The body stays
// where it is (typically the spool file): plugins pull it in chunks.
type Message struct {
	Size       int64
	Header     []HeaderField // in order, raw values
	Body       io.ReaderAt   // holds the body at [BodyOffset, BodyOffset+BodySize)
	BodyOffset int64
	BodySize   int64
}

// Outcome is one recipient's delivery result, for the delivered stage.
type Outcome struct {
	Rcpt      string
	Code      int
	Enhanced  string
	Text      string
	Delivered bool
	Permanent bool
}

// Action is what a verdict tells the relay to do.
type Action int

const (
	Continue   Action = iota // no objection; the next filter decides
	Accept                   // accept and skip the rest of the chain for this stage
	Reject                   // permanent refusal (5xx)
	Tempfail                 // temporary refusal (4xx)
	Discard                  // accept the message, then drop it silently
	Quarantine               // accept the message and hold it
)

var actionNames = [...]string{"continue", "accept", "reject", "tempfail", "discard", "quarantine"}

func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Verdict is the combined answer of a chain for one stage. Code, Enhanced
// and Text are safe to send to the client (validated); Reason is for logs
// only and never shown to the client.
type Verdict struct {
	Action   Action
	Code     int
	Enhanced string
	Text     string
	Filter   string // the filter that decided; "" when every filter continued
	Reason   string // why a failure policy applied, for logs
}
