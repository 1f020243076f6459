// Package sdk is the Go SDK for sluice filter plugins (ABI v1, see ABI.md).
//
// A plugin is a main package built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o filter.wasm .
//
// that registers its handlers from init and has an empty main:
//
//	func init() {
//		sdk.Handle(sdk.Handlers{
//			Data: func(e *sdk.DataEvent) sdk.Result {
//				return sdk.Continue().With(new(sdk.Changes).AddHeader("X-Seen", "yes"))
//			},
//		})
//	}
//	func main() {}
//
// The SDK exports the ABI functions, decodes events into typed structs,
// encodes results, and wraps the host functions (body and MIME part reading,
// config, key-value store, logging, DNS and HTTP when granted).
package sdk

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// Handlers are the plugin's callbacks; a nil handler means the plugin does
// not take part in that stage (the host never calls it there).
type Handlers struct {
	Connect   func(*ConnectEvent) Result
	Helo      func(*HeloEvent) Result
	Auth      func(*AuthEvent) Result
	Mail      func(*MailEvent) Result
	Rcpt      func(*RcptEvent) Result
	Data      func(*DataEvent) Result
	Delivered func(*DeliveredEvent)
}

var handlers Handlers

// Handle registers the plugin's handlers. Call it once, from init.
func Handle(h Handlers) { handlers = h }

func stageBits() int32 {
	var b int32
	set := func(ok bool, bit int32) {
		if ok {
			b |= bit
		}
	}
	set(handlers.Connect != nil, abi.BitConnect)
	set(handlers.Helo != nil, abi.BitHelo)
	set(handlers.Auth != nil, abi.BitAuth)
	set(handlers.Mail != nil, abi.BitMail)
	set(handlers.Rcpt != nil, abi.BitRcpt)
	set(handlers.Data != nil, abi.BitData)
	set(handlers.Delivered != nil, abi.BitDelivered)
	return b
}

// Session, Txn, Recipient and the other event parts are the ABI documents.
type (
	Session   = abi.Session
	Txn       = abi.Txn
	Recipient = abi.Recipient
	Outcome   = abi.Outcome
	Part      = abi.Part
)

// ConnectEvent runs before the greeting.
type ConnectEvent struct{ Session Session }

// HeloEvent carries the HELO/EHLO argument in Session.Helo.
type HeloEvent struct{ Session Session }

// AuthEvent reports an AUTH attempt after the host checked the credentials.
type AuthEvent struct {
	Session   Session
	Mechanism string
	User      string
	OK        bool
}

// MailEvent carries MAIL FROM in Txn.From ("" is the null sender).
type MailEvent struct {
	Session Session
	Txn     Txn
}

// RcptEvent is one RCPT TO; the verdict applies to Rcpt only.
type RcptEvent struct {
	Session Session
	Txn     Txn
	Rcpt    Recipient
}

// DataEvent is the complete message. The body is not copied into the event:
// read it with Body or Part.
type DataEvent struct {
	Session  Session
	Txn      Txn
	Size     int64
	Header   Header
	BodySize int64
	Parts    []Part
}

// DeliveredEvent reports the delivery results; it has no verdict.
type DeliveredEvent struct {
	Session  Session
	Txn      Txn
	Outcomes []Outcome
}

// Header is the message header in order, with raw (possibly folded) values.
type Header []abi.HeaderField

// Get returns the unfolded value of the first field named name
// (case-insensitive), or "".
func (h Header) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return Unfold(f.Value)
		}
	}
	return ""
}

// Values returns the unfolded values of every field named name.
func (h Header) Values(name string) []string {
	var vs []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			vs = append(vs, Unfold(f.Value))
		}
	}
	return vs
}

// Has reports whether a field named name exists.
func (h Header) Has(name string) bool {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// Unfold removes header folding (RFC 5322 section 2.2.3): each CRLF
// followed by whitespace is dropped, keeping the whitespace.
func Unfold(v string) string {
	if !strings.Contains(v, "\n") {
		return v
	}
	v = strings.ReplaceAll(v, "\r\n", "")
	return strings.ReplaceAll(v, "\n", "")
}

// AddressDomain returns the lower-cased domain of an address, "" if none.
func AddressDomain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}

// Result is a handler's answer: a verdict and, at the data stage only,
// changes to the message or envelope.
type Result struct {
	Action   string
	Code     int
	Enhanced string
	Text     string
	Changes  *Changes
}

// With attaches changes to the result (data stage only).
func (r Result) With(c *Changes) Result { r.Changes = c; return r }

// Continue lets the next filter decide.
func Continue() Result { return Result{Action: abi.ActionContinue} }

// Accept stops the chain for this stage and accepts.
func Accept() Result { return Result{Action: abi.ActionAccept} }

// Reject refuses permanently. code must be 5xx and enhanced, if set, 5.x.x;
// text is shown to the client: printable ASCII, at most 512 bytes.
func Reject(code int, enhanced, text string) Result {
	return Result{Action: abi.ActionReject, Code: code, Enhanced: enhanced, Text: text}
}

// Tempfail refuses temporarily; code must be 4xx and enhanced 4.x.x.
func Tempfail(code int, enhanced, text string) Result {
	return Result{Action: abi.ActionTempfail, Code: code, Enhanced: enhanced, Text: text}
}

// Discard accepts the message and silently drops it (data stage).
func Discard() Result { return Result{Action: abi.ActionDiscard} }

// Quarantine accepts the message and asks the host to hold it (data stage);
// text is logged with it.
func Quarantine(text string) Result { return Result{Action: abi.ActionQuarantine, Text: text} }

// Changes builds the modifications of a data-stage result. Each method
// returns c so calls chain. The host validates everything; see ABI.md.
type Changes struct{ w abi.Changes }

// AddHeader appends a field at the end of the header.
func (c *Changes) AddHeader(name, value string) *Changes {
	c.w.Headers = append(c.w.Headers, abi.HeaderChange{Op: abi.HeaderAdd, Name: name, Value: value})
	return c
}

// PrependHeader inserts a field at the top of the header as the event lists
// it (directly below the relay's own Received, which filters never see),
// where trace-like fields such as DKIM-Signature and Authentication-Results belong.
func (c *Changes) PrependHeader(name, value string) *Changes {
	c.w.Headers = append(c.w.Headers, abi.HeaderChange{Op: abi.HeaderPrepend, Name: name, Value: value})
	return c
}

// SetHeader replaces every field named name by one field (appended if absent).
func (c *Changes) SetHeader(name, value string) *Changes {
	c.w.Headers = append(c.w.Headers, abi.HeaderChange{Op: abi.HeaderSet, Name: name, Value: value})
	return c
}

// RemoveHeader removes every field named name.
func (c *Changes) RemoveHeader(name string) *Changes {
	c.w.Headers = append(c.w.Headers, abi.HeaderChange{Op: abi.HeaderRemove, Name: name})
	return c
}

// RemoveHeaderAt removes only the n-th field named name (1 = the first), counted
// in the header as the event listed it, whatever other changes do.
func (c *Changes) RemoveHeaderAt(name string, n int) *Changes {
	c.w.Headers = append(c.w.Headers, abi.HeaderChange{Op: abi.HeaderRemove, Name: name, Index: n})
	return c
}

// SetSender replaces the envelope sender ("" is the null sender).
func (c *Changes) SetSender(addr string) *Changes { c.w.Sender = &addr; return c }

// AddRecipient adds an envelope recipient.
func (c *Changes) AddRecipient(addr string) *Changes {
	c.w.AddRecipients = append(c.w.AddRecipients, abi.Recipient{Addr: addr})
	return c
}

// RemoveRecipient removes an envelope recipient.
func (c *Changes) RemoveRecipient(addr string) *Changes {
	c.w.RemoveRecipients = append(c.w.RemoveRecipients, addr)
	return c
}

// ReplaceRecipient swaps one envelope recipient for another.
func (c *Changes) ReplaceRecipient(from, to string) *Changes {
	c.w.ReplaceRecipients = append(c.w.ReplaceRecipients, abi.RecipientReplace{From: from, To: to})
	return c
}

// Reroute delivers rcpt through the relay's route named route.
func (c *Changes) Reroute(rcpt, route string) *Changes {
	c.w.Reroute = append(c.w.Reroute, abi.Reroute{Rcpt: rcpt, Route: route})
	return c
}

// ReplaceBody replaces the whole body (everything after the header); use
// CRLF line endings (the host turns a bare LF or CR into CRLF) and set
// Content-Type with SetHeader if it changes.
func (c *Changes) ReplaceBody(body []byte) *Changes { c.w.Body = &body; return c }

// ReplacePart replaces MIME part path ("1.2") by a leaf part with the given
// content type, optional Content-Disposition value and decoded content.
func (c *Changes) ReplacePart(path, contentType, disposition string, content []byte) *Changes {
	c.w.Parts = append(c.w.Parts, abi.PartReplace{Path: path, ContentType: contentType, Disposition: disposition, Body: content})
	return c
}

func (r Result) wire() abi.Result {
	w := abi.Result{Action: r.Action, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}
	if r.Changes != nil {
		ch := r.Changes.w
		w.Changes = &ch
	}
	return w
}

// ErrNotInSandbox is returned by host calls when the SDK runs outside a
// sluice host (for example in a plain `go test` of plugin logic).
var ErrNotInSandbox = errors.New("sdk: not running inside sluice")

// HostError is a negative status returned by a host function.
type HostError int32

func (e HostError) Error() string {
	switch e {
	case abi.ErrInvalid:
		return "sluice: invalid argument"
	case abi.ErrNotFound:
		return "sluice: not found"
	case abi.ErrDenied:
		return "sluice: capability not granted"
	case abi.ErrUnavailable:
		return "sluice: not available at this stage"
	case abi.ErrTooLarge:
		return "sluice: too large"
	case abi.ErrFailed:
		return "sluice: operation failed"
	}
	return fmt.Sprintf("sluice: host error %d", int32(e))
}

// Is lets errors.Is(err, sdk.ErrNotFound) and friends work.
func (e HostError) Is(target error) bool { t, ok := target.(HostError); return ok && t == e }

// Host errors to compare with errors.Is.
var (
	ErrNotFound    error = HostError(abi.ErrNotFound)
	ErrDenied      error = HostError(abi.ErrDenied)
	ErrUnavailable error = HostError(abi.ErrUnavailable)
	ErrTooLarge    error = HostError(abi.ErrTooLarge)
)
