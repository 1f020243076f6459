package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// Chain is a domain's ordered list of filters. The zero or nil Chain is
// empty: every stage returns Continue without work.
type Chain struct{ filters []*filter }

// Empty reports whether the chain has no filter.
func (c *Chain) Empty() bool { return c == nil || len(c.filters) == 0 }

// Connect runs before the greeting.
func (c *Chain) Connect(ctx context.Context, s *Session) Verdict {
	v, _ := c.run(ctx, abi.StageConnect, &abi.Event{Session: wireSession(s)}, nil, nil, nil, nil)
	return v
}

// Helo runs after HELO/EHLO/LHLO; s.Helo and s.HeloExtended are set.
func (c *Chain) Helo(ctx context.Context, s *Session) Verdict {
	v, _ := c.run(ctx, abi.StageHelo, &abi.Event{Session: wireSession(s)}, nil, nil, nil, nil)
	return v
}

// Auth runs after the host checked an AUTH attempt (ok tells the outcome).
func (c *Chain) Auth(ctx context.Context, s *Session, mech, user string, ok bool) Verdict {
	ev := &abi.Event{Session: wireSession(s), Auth: &abi.Auth{Mechanism: mech, User: user, OK: ok}}
	v, _ := c.run(ctx, abi.StageAuth, ev, nil, nil, nil, nil)
	return v
}

// Mail runs after MAIL FROM.
func (c *Chain) Mail(ctx context.Context, t *Txn) Verdict {
	v, _ := c.run(ctx, abi.StageMail, txnEvent(t), t, nil, nil, nil)
	return v
}

// Rcpt runs after each RCPT TO; the verdict applies to r only.
func (c *Chain) Rcpt(ctx context.Context, t *Txn, r Recipient) Verdict {
	ev := txnEvent(t)
	ev.Rcpt = &abi.Recipient{Addr: r.Addr, Params: r.Params}
	v, _ := c.run(ctx, abi.StageRcpt, ev, t, nil, nil, nil)
	return v
}

// Data runs with the complete message. Every filter sees the original
// message; the returned changes are those of the filters that ran, merged
// in chain order (nil when none), and a body or part change that collides
// with an earlier filter's fails its filter. This is for tools that
// inspect a chain's changes; the relay uses DataWithRewrite.
func (c *Chain) Data(ctx context.Context, t *Txn, m *Message) (Verdict, *Changes) {
	return c.DataWithRewrite(ctx, t, m, nil)
}

// A Rewriter applies message changes (header, body and part changes,
// never envelope changes) to the message a chain runs on, and returns the
// message as it now is.
type Rewriter func(ch *Changes) (*Message, error)

// DataWithRewrite runs the data stage so that each filter sees the message
// as the filters before it left it: when a filter changed the message and
// a later filter of the chain handles the data stage, rewrite applies the
// change first and the later filters get the new message (its parts
// scanned again). So a signing filter placed last signs what is sent, and
// two filters may both change the body. The returned changes are every
// filter's envelope changes and the message changes not yet applied: those
// of the last filter that changed the message, when no filter followed
// it. A nil rewrite is Data.
func (c *Chain) DataWithRewrite(ctx context.Context, t *Txn, m *Message, rewrite Rewriter) (Verdict, *Changes) {
	if !c.uses(abi.BitData) {
		return Verdict{Action: Continue}, nil
	}
	ev, parts := c.dataEvent(t, m)
	d := &dataSteps{chain: c, txn: t, rewrite: rewrite}
	return c.run(ctx, abi.StageData, ev, t, m, parts, d)
}

// dataEvent builds the data event of m and scans its parts.
func (c *Chain) dataEvent(t *Txn, m *Message) (*abi.Event, []part) {
	wm := &abi.Message{Size: m.Size, BodySize: m.BodySize, Header: make([]abi.HeaderField, len(m.Header))}
	for i, f := range m.Header {
		wm.Header[i] = abi.HeaderField{Name: f.Name, Value: f.Value}
	}
	parts, err := messageParts(m)
	if err != nil {
		// The parts found so far are still useful; plugins read the raw body anyway.
		c.filters[0].log.Debug("MIME structure only partly scanned", "error", err)
	}
	wm.Parts = wireParts(parts, m.BodyOffset)
	ev := txnEvent(t)
	ev.Message = wm
	return ev, parts
}

// dataSteps applies a data-stage chain's message changes between filters.
type dataSteps struct {
	chain   *Chain
	txn     *Txn
	rewrite Rewriter
}

// afterFilter is called with the chain's changes so far after the filter
// at index i. When they change the message and a later filter handles the
// data stage, it moves the message changes out of total, applies them and
// returns the event, message and parts the later filters see (a nil event
// otherwise).
func (d *dataSteps) afterFilter(i int, total *Changes) (event *chainEvent, msg *Message, parts []part, err error) {
	if d == nil || d.rewrite == nil || !total.MessageChanged() || !d.chain.handledAfter(i, abi.BitData) {
		return nil, nil, nil, nil
	}
	if msg, err = d.rewrite(total.takeMessageChanges()); err != nil {
		return nil, nil, nil, err
	}
	ev, parts := d.chain.dataEvent(d.txn, msg)
	return newChainEvent(ev, abi.StageData), msg, parts, nil
}

// handledAfter reports whether a filter after index i handles the stage bit.
func (c *Chain) handledAfter(i int, bit int32) bool {
	for _, f := range c.filters[i+1:] {
		if f.stages&bit != 0 {
			return true
		}
	}
	return false
}

// wireParts gives the parts as the data event carries them, with offsets
// counted from the start of the body.
func wireParts(parts []part, bodyOffset int64) []abi.Part {
	out := make([]abi.Part, 0, len(parts))
	for _, p := range parts {
		wp := p.Part
		wp.BodyStart, wp.End = p.bodyStart-bodyOffset, p.end-bodyOffset
		if !p.root {
			wp.HeaderStart = p.hdrStart - bodyOffset
		}
		out = append(out, wp)
	}
	return out
}

// MessageParts lists m's MIME parts exactly as the data event gives them
// to plugins (for tests and tools that build events outside a relay).
func MessageParts(m *Message) ([]abi.Part, error) {
	parts, err := messageParts(m)
	return wireParts(parts, m.BodyOffset), err
}

// messageParts scans m's MIME structure (scanParts) from its parsed header.
func messageParts(m *Message) ([]part, error) {
	header := make([]rawField, len(m.Header))
	for i, f := range m.Header {
		header[i] = rawField{name: f.Name, raw: []byte(f.Name + ": " + f.Value + "\r\n")}
	}
	return scanParts(m.Body, header, m.BodyOffset, m.BodyOffset+m.BodySize)
}

// Delivered reports delivery outcomes to the filters that log them; it has
// no verdict and does not carry the body.
func (c *Chain) Delivered(ctx context.Context, t *Txn, outcomes []Outcome) {
	ev := txnEvent(t)
	for _, o := range outcomes {
		ev.Outcomes = append(ev.Outcomes, abi.Outcome{Rcpt: o.Rcpt, Code: o.Code, Enhanced: o.Enhanced, Text: o.Text, Delivered: o.Delivered, Permanent: o.Permanent})
	}
	c.run(ctx, abi.StageDelivered, ev, t, nil, nil, nil)
}

func (c *Chain) uses(bit int32) bool {
	if c.Empty() {
		return false
	}
	for _, f := range c.filters {
		if f.stages&bit != 0 {
			return true
		}
	}
	return false
}

// run calls each filter of the chain that handles stage, in order. The
// first verdict other than Continue ends the stage. At the data stage,
// steps applies message changes between filters (nil: they merge).
func (c *Chain) run(ctx context.Context, stage string, ev *abi.Event, t *Txn, msg *Message, parts []part, steps *dataSteps) (Verdict, *Changes) {
	bit := abi.StageBits[stage]
	if !c.uses(bit) {
		return Verdict{Action: Continue}, nil
	}
	var v Verdict
	var total *Changes
	onGuestThread(ctx, func(ctx context.Context) { v, total = c.runFilters(ctx, stage, bit, ev, t, msg, parts, steps) })
	return v, total
}

// runFilters is run's loop, on a guest thread.
func (c *Chain) runFilters(ctx context.Context, stage string, bit int32, ev *abi.Event, t *Txn, msg *Message, parts []part, steps *dataSteps) (Verdict, *Changes) {
	event := newChainEvent(ev, stage)
	var total *Changes
	for i, f := range c.filters {
		if f.stages&bit == 0 {
			continue
		}
		v, ch := f.observe(ctx, stage, event, t, msg, parts, total)
		if ch != nil {
			if total == nil {
				total = &Changes{}
			}
			total.merge(ch)
		}
		if v.Action != Continue {
			return v, total
		}
		next, nmsg, nparts, err := steps.afterFilter(i, total)
		if err != nil {
			f.log.Error("applying the filter's changes to the message failed", "error", err)
			v = failTempfail
			v.Filter, v.Reason = f.name, "applying its changes: "+err.Error()
			if m := f.host.opts.Metrics; m != nil {
				m.failure(f.name, stage, v.Reason)
			}
			return v, total
		}
		if next != nil {
			event, msg, parts = next, nmsg, nparts
		}
	}
	return Verdict{Action: Continue}, total
}

// chainEvent is one event on its way through a chain. It is encoded once
// for each encoding a filter of the chain asks for (JSON, or packed: see
// abi.AppendPacked), with an empty filter name that forFilter replaces by
// each filter's own.
type chainEvent struct {
	ev               *abi.Event // Filter empty
	json, packed     []byte
	jsonAt, packedAt int // where the empty filter name starts
}

// newChainEvent readies ev for the filters of a chain at stage.
func newChainEvent(ev *abi.Event, stage string) *chainEvent {
	ev.ABI, ev.Stage, ev.Filter = abi.Version, stage, ""
	return &chainEvent{ev: ev}
}

// forFilter returns the event document for f.
func (e *chainEvent) forFilter(f *filter) ([]byte, error) {
	if f.packed {
		if e.packed == nil {
			e.packed = abi.AppendPacked(nil, e.ev)
			e.packedAt = abi.PackedFilterOffset(e.ev) // the empty name there is one 0 byte
		}
		return splice(e.packed, e.packedAt, 1, f.namePacked), nil
	}
	if e.json == nil {
		doc, err := json.Marshal(e.ev)
		if err != nil {
			return nil, fmt.Errorf("event cannot be encoded: %v", err)
		}
		// abi, stage and filter are the first fields of abi.Event.
		at := bytes.Index(doc, []byte(`,"filter":""`)) + len(`,"filter":`)
		if at < len(`,"filter":`) {
			return nil, fmt.Errorf("event cannot be encoded: no filter field in %.40q", doc)
		}
		e.json, e.jsonAt = doc, at
	}
	return splice(e.json, e.jsonAt, 2, f.nameJSON), nil
}

// splice returns doc with its n bytes at at replaced by name.
func splice(doc []byte, at, n int, name []byte) []byte {
	out := make([]byte, 0, len(doc)-n+len(name))
	out = append(out, doc[:at]...)
	out = append(out, name...)
	return append(out, doc[at+n:]...)
}

// handle runs one filter for one stage and turns every failure into the
// filter's on_error verdict. prior are the changes of the filters before it
// in the chain, which its own must not collide with.
func (f *filter) handle(ctx context.Context, stage string, event *chainEvent, t *Txn, msg *Message, parts []part, prior *Changes) (Verdict, *Changes) {
	doc, err := event.forFilter(f)
	if err != nil {
		return f.failure(stage, err.Error()), nil
	}
	if len(doc) > abi.MaxEventBytes {
		return f.failure(stage, fmt.Sprintf("event of %d bytes cannot be sent (limit %d)", len(doc), abi.MaxEventBytes)), nil
	}
	out, err := f.call(ctx, &callState{f: f, msg: msg, parts: parts}, doc)
	if err != nil {
		return f.failure(stage, err.Error()), nil
	}
	v, ch, err := decodeResult(stage, out, t, parts)
	if stage == abi.StageDelivered {
		if err != nil {
			f.log.Warn("filter answered the delivered stage with an invalid result", "reason", err)
			return Verdict{Action: Continue, Filter: f.name, Reason: err.Error()}, nil // counted, then ignored
		}
		return Verdict{Action: Continue}, nil
	}
	if err == nil && ch != nil {
		if err = prior.collides(ch); err != nil {
			err = fmt.Errorf("invalid changes: %w", err)
		}
	}
	if err != nil {
		return f.failure(stage, err.Error()), nil
	}
	if ch != nil {
		if reason := f.checkOutput(t, msg, prior, ch); reason != "" {
			return f.failure(stage, reason), nil
		}
	}
	v.Filter = f.name // observe (metrics.go) logs verdicts other than continue
	return v, ch
}

// failure applies the filter's on_error policy and logs why.
func (f *filter) failure(stage, reason string) Verdict {
	var v Verdict
	switch f.onError {
	case Continue:
		v = Verdict{Action: Continue}
	case Reject:
		v = failReject
	default:
		v = failTempfail
	}
	v.Filter, v.Reason = f.name, reason
	f.log.Warn("filter failed; applying on_error", "stage", stage, "on_error", f.onError, "reason", reason)
	return v
}

func wireSession(s *Session) abi.Session {
	if s == nil {
		return abi.Session{}
	}
	w := abi.Session{
		ID: s.ID, ClientPort: s.ClientPort, Listener: s.Listener, ListenerKind: s.ListenerKind,
		TLS: s.TLS, TLSVersion: s.TLSVersion, TLSCipher: s.TLSCipher,
		Helo: s.Helo, HeloExtended: s.HeloExtended, AuthUser: s.AuthUser, Trusted: s.Trusted,
	}
	if s.ClientIP.IsValid() {
		w.ClientIP = s.ClientIP.String()
	}
	return w
}

func wireRecipients(rs []Recipient) []abi.Recipient {
	out := make([]abi.Recipient, len(rs))
	for i, r := range rs {
		out[i] = abi.Recipient{Addr: r.Addr, Params: r.Params}
	}
	return out
}

func txnEvent(t *Txn) *abi.Event {
	if t == nil {
		return &abi.Event{Txn: &abi.Txn{}}
	}
	return &abi.Event{
		Session: wireSession(t.Session),
		Txn:     &abi.Txn{QueueID: t.QueueID, From: t.From, MailParams: t.MailParams, Recipients: wireRecipients(t.Recipients)},
	}
}
