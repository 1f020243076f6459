package queue

import (
	"encoding/json"
	"fmt"
	"time"
)

// State is where one recipient of a queued message stands.
type State string

const (
	StateQueued    State = "queued"    // waiting for (another) delivery attempt
	StateDelivered State = "delivered" // final: the next hop accepted it
	StateFailed    State = "failed"    // final: permanent failure or expiry
)

// Final reports whether no further attempt will be made.
func (s State) Final() bool { return s == StateDelivered || s == StateFailed }

// Recipient is one envelope recipient and its delivery state.
type Recipient struct {
	Addr string `json:"addr"`
	// Route names the domain block whose delivery is used instead of the
	// recipient's own domain (set when a filter reroutes a recipient).
	Route       string    `json:"route,omitempty"`
	State       State     `json:"state"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastReply   string    `json:"last_reply,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// DSN parameters (RFC 3461) given at RCPT.
	Notify []string `json:"notify,omitempty"`
	ORcpt  string   `json:"orcpt,omitempty"`
	// Relayed and DSNPassed say how a delivered recipient left (see
	// deliver.Result): to another SMTP server, which offered DSN and was
	// given the parameters above. They decide the success report.
	Relayed   bool `json:"relayed,omitempty"`
	DSNPassed bool `json:"dsn_passed,omitempty"`
	// Reported is set once the Notifier was told of the recipient's final
	// state (and sent a report, if one was due), so it is told only once.
	Reported bool `json:"reported,omitempty"`
}

// Envelope is everything about a queued message except its bytes. It is the
// unit that is written atomically and fsync'd: a message exists in the queue
// exactly when its envelope does, in the trailer of ID.msg or in ID.env
// beside it (spoolfile.go).
type Envelope struct {
	ID         string       `json:"id"`
	From       string       `json:"from"` // "" is the null sender
	Recipients []*Recipient `json:"recipients"`
	Created    time.Time    `json:"created"`
	Size       int64        `json:"size"`
	UTF8       bool         `json:"utf8,omitempty"`
	EightBit   bool         `json:"8bit,omitempty"`

	// Where it came from, for logs and bounces.
	ClientIP string `json:"client_ip,omitempty"`
	Helo     string `json:"helo,omitempty"`
	AuthUser string `json:"auth_user,omitempty"`
	Listener string `json:"listener,omitempty"`

	// DSN parameters (RFC 3461) given at MAIL.
	DSNRet   string `json:"dsn_ret,omitempty"`
	DSNEnvID string `json:"dsn_envid,omitempty"`

	// Held messages are not attempted until released (see Queue.Hold).
	Held bool `json:"held,omitempty"`
	// DelayWarned is set once the delay warning (Options.DelayWarning) was sent.
	DelayWarned bool `json:"delay_warned,omitempty"`
}

// Clone returns a deep copy of e.
func (e *Envelope) Clone() *Envelope {
	c := *e
	c.Recipients = make([]*Recipient, len(e.Recipients))
	for i, r := range e.Recipients {
		rc := *r
		rc.Notify = append([]string(nil), r.Notify...)
		c.Recipients[i] = &rc
	}
	return &c
}

// Pending reports whether any recipient still awaits delivery.
func (e *Envelope) Pending() bool {
	for _, r := range e.Recipients {
		if !r.State.Final() {
			return true
		}
	}
	return false
}

func (e *Envelope) validate() error {
	if e.ID == "" || !validID(e.ID) {
		return fmt.Errorf("invalid queue id %q", e.ID)
	}
	if len(e.Recipients) == 0 {
		return fmt.Errorf("message %s has no recipients", e.ID)
	}
	return nil
}

func encodeEnvelope(e *Envelope) ([]byte, error) { return json.MarshalIndent(e, "", "  ") }

func decodeEnvelope(b []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	return &e, nil
}
