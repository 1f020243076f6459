package plugin

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Policy holds the data-stage output of filters to the relay's own rules
// (Txn.Policy): what a client could not send, a filter may not make of
// its message. A filter whose changes break it fails, and its on_error
// applies (ABI.md 3.3). The zero Policy checks only what needs no relay:
// the line length of a replaced body.
type Policy struct {
	// MaxMessageBytes and MaxHeaderBytes bound the message as a filter
	// leaves it, measured like the client's data (without the relay's
	// Received header); 0 is no limit. They need a Message whose Body holds
	// the whole message, as ReadMessage makes it.
	MaxMessageBytes, MaxHeaderBytes int64
	// Envelope, when set, decides whether the transaction may have the
	// envelope a filter's sender and recipient changes (with those of the
	// filters before it) give it; a nil error accepts. An error that wraps
	// ErrOverLimit is counted as a limit, any other as a policy refusal.
	Envelope func(EnvelopeChange) error
}

// EnvelopeChange is the transaction's envelope as the sender and recipient
// changes of a chain's filters so far leave it, for Policy.Envelope.
type EnvelopeChange struct {
	// Sender is the sender the changes set ("" is the null sender), nil
	// when they keep the client's: the relay's rules for a client's MAIL
	// apply to it.
	Sender *string
	// Recipients are every recipient after the changes, in order.
	Recipients []string
	// New are the recipients the changes added or renamed others to: the
	// relay's rules for a client's RCPT apply to them.
	New []string
	// Reroutes are every reroute of the changes.
	Reroutes []Reroute
	// MessageBytes is the size of the message as the filters leave it.
	MessageBytes int64
	// Relay is set when the filter is granted "relay": its new recipients
	// may be in domains the relay does not serve, as for an authenticated
	// client.
	Relay bool
}

// ErrOverLimit marks a refusal because of a limit (max_recipients and
// the like) rather than the relay policy.
var ErrOverLimit = errors.New("over limit")

// Reasons of a failure by policy (metrics.go sorts failures by them).
const (
	reasonLimit  = "over limit: "
	reasonPolicy = "refused by relay policy: "
)

// checkOutput holds a filter's validated changes ch, together with prior,
// those of the chain's filters before it that are not yet applied, to the
// transaction's policy; msg is the message the filter saw. It returns the
// failure reason, "" when the changes may stand.
func (f *filter) checkOutput(t *Txn, msg *Message, prior, ch *Changes) string {
	if ch.ReplaceBody {
		if n := longestLine(crlf(ch.Body)); n > maxLineBytes {
			return fmt.Sprintf("%sreplaced body has a line of %d bytes (at most %d)", reasonLimit, n, maxLineBytes)
		}
	}
	if t == nil {
		return ""
	}
	p := t.Policy
	all := &Changes{}
	if prior != nil {
		all.merge(prior)
	}
	all.merge(ch)
	envelope := p.Envelope != nil && (ch.Sender != nil || len(ch.AddRecipients) > 0 || len(ch.ReplaceRecipients) > 0 || len(ch.Reroutes) > 0)
	size := int64(-1)
	if msg != nil {
		size = msg.Size
		if all.MessageChanged() && (p.MaxMessageBytes > 0 || p.MaxHeaderBytes > 0 || envelope) {
			header, total, err := measure(all, msg)
			switch {
			case err != nil:
				return "applying its changes: " + err.Error()
			case p.MaxHeaderBytes > 0 && header > p.MaxHeaderBytes:
				return fmt.Sprintf("%sheader of %d bytes (max_header_size %d)", reasonLimit, header, p.MaxHeaderBytes)
			case p.MaxMessageBytes > 0 && total > p.MaxMessageBytes:
				return fmt.Sprintf("%smessage of %d bytes (max_message_size %d)", reasonLimit, total, p.MaxMessageBytes)
			}
			size = total
		}
	}
	if !envelope {
		return ""
	}
	e := envelopeAfter(t.Recipients, all)
	e.MessageBytes, e.Relay = size, f.grantRelay
	if err := p.Envelope(e); err != nil {
		if errors.Is(err, ErrOverLimit) {
			return reasonLimit + strings.TrimPrefix(err.Error(), ErrOverLimit.Error()+": ")
		}
		return reasonPolicy + err.Error()
	}
	return ""
}

// envelopeAfter applies the recipient changes of ch to rcpts as the relay
// does after the chain: renames, then removals, then additions, addresses
// compared without case; the last sender set stands.
func envelopeAfter(rcpts []Recipient, ch *Changes) EnvelopeChange {
	e := EnvelopeChange{Sender: ch.Sender, Reroutes: ch.Reroutes}
	for _, r := range rcpts {
		e.Recipients = append(e.Recipients, r.Addr)
	}
	for _, rc := range ch.ReplaceRecipients {
		for i, a := range e.Recipients {
			if strings.EqualFold(a, rc.From) {
				e.Recipients[i] = rc.To
				e.New = append(e.New, rc.To)
			}
		}
	}
	for _, gone := range ch.RemoveRecipients {
		kept := e.Recipients[:0]
		for _, a := range e.Recipients {
			if !strings.EqualFold(a, gone) {
				kept = append(kept, a)
			}
		}
		e.Recipients = kept
	}
	for _, add := range ch.AddRecipients {
		e.Recipients = append(e.Recipients, add.Addr)
		e.New = append(e.New, add.Addr)
	}
	return e
}

// longestLine returns the length of the longest line of b, without its CRLF.
func longestLine(b []byte) int {
	longest := 0
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			i = len(b)
		}
		longest = max(longest, i)
		b = b[min(i+2, len(b)):]
	}
	return longest
}
