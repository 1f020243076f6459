package plugin

import (
	"fmt"
	"mime"
	"strings"

	"github.com/sluice-mail/sluice/sdk/abi"
	"github.com/sluice-mail/sluice/sdk/hdrrule"
	"github.com/sluice-mail/sluice/sdk/mailbox"
)

// HeaderOp is one kind of header modification.
type HeaderOp string

const (
	HeaderAdd     HeaderOp = abi.HeaderAdd     // append a field at the end of the header
	HeaderPrepend HeaderOp = abi.HeaderPrepend // insert a field at the top of the header
	HeaderSet     HeaderOp = abi.HeaderSet     // replace all fields of that name by one
	HeaderRemove  HeaderOp = abi.HeaderRemove  // remove all fields of that name, or the Index-th
)

// HeaderChange is one validated header modification. Value is the raw
// field body; folding is CRLF followed by a space or tab.
type HeaderChange struct {
	Op    HeaderOp `json:"op"`
	Name  string   `json:"name"`
	Value string   `json:"value,omitempty"`
	// Index (remove only): remove just the Index-th field of that name in the
	// message as the filter saw it (1 = first); 0 removes every one.
	Index int `json:"index,omitempty"`
}

// RecipientChange replaces envelope recipient From by To.
type RecipientChange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Reroute sends Recipient through the relay route named Route.
type Reroute struct {
	Recipient string `json:"recipient"`
	Route     string `json:"route"`
}

// PartReplacement replaces MIME part Path ("1.2") by a leaf part.
type PartReplacement struct {
	Path        string `json:"path"`
	ContentType string `json:"content_type"`          // media type with optional parameters, e.g. "text/plain; charset=utf-8"
	Disposition string `json:"disposition,omitempty"` // optional Content-Disposition value
	Content     []byte `json:"content"`               // decoded content; Apply chooses the transfer encoding
}

// Changes is what the filters of a chain asked for at the data stage,
// already validated and merged in chain order. Envelope changes (Sender,
// recipients, reroutes) are for the relay; Apply performs the rest.
type Changes struct {
	Headers           []HeaderChange    `json:"headers,omitempty"`
	Sender            *string           `json:"sender,omitempty"` // nil: unchanged; "" is the null sender
	AddRecipients     []Recipient       `json:"add_recipients,omitempty"`
	RemoveRecipients  []string          `json:"remove_recipients,omitempty"`
	ReplaceRecipients []RecipientChange `json:"replace_recipients,omitempty"`
	Reroutes          []Reroute         `json:"reroutes,omitempty"`
	ReplaceBody       bool              `json:"replace_body,omitempty"`
	Body              []byte            `json:"body,omitempty"` // the new body when ReplaceBody; CRLF line endings
	Parts             []PartReplacement `json:"parts,omitempty"`
}

// ABI returns ch as a result's changes document (ABI.md section 3.3), under
// the names a plugin uses (reroute, rcpt, body), for tools that show a
// plugin author what a chain asked for. A nil or empty ch gives nil.
func (ch *Changes) ABI() *abi.Changes {
	if ch.Empty() {
		return nil
	}
	w := &abi.Changes{Sender: ch.Sender, RemoveRecipients: ch.RemoveRecipients}
	for _, h := range ch.Headers {
		w.Headers = append(w.Headers, abi.HeaderChange{Op: string(h.Op), Name: h.Name, Value: h.Value, Index: h.Index})
	}
	for _, r := range ch.AddRecipients {
		w.AddRecipients = append(w.AddRecipients, abi.Recipient{Addr: r.Addr, Params: r.Params})
	}
	for _, r := range ch.ReplaceRecipients {
		w.ReplaceRecipients = append(w.ReplaceRecipients, abi.RecipientReplace{From: r.From, To: r.To})
	}
	for _, r := range ch.Reroutes {
		w.Reroute = append(w.Reroute, abi.Reroute{Rcpt: r.Recipient, Route: r.Route})
	}
	if ch.ReplaceBody {
		body := ch.Body
		if body == nil {
			body = []byte{}
		}
		w.Body = &body
	}
	for _, p := range ch.Parts {
		w.Parts = append(w.Parts, abi.PartReplace{Path: p.Path, ContentType: p.ContentType, Disposition: p.Disposition, Body: p.Content})
	}
	return w
}

// Empty reports whether ch changes nothing; a nil *Changes is empty.
func (ch *Changes) Empty() bool {
	return ch == nil || (len(ch.Headers) == 0 && ch.Sender == nil && len(ch.AddRecipients) == 0 &&
		len(ch.RemoveRecipients) == 0 && len(ch.ReplaceRecipients) == 0 && len(ch.Reroutes) == 0 &&
		!ch.ReplaceBody && len(ch.Parts) == 0)
}

// MessageChanged reports whether Apply would rewrite the message bytes.
func (ch *Changes) MessageChanged() bool {
	return ch != nil && (len(ch.Headers) > 0 || ch.ReplaceBody || len(ch.Parts) > 0)
}

// traceHeader reports trace fields no plugin may touch: they record the
// message's path (RFC 5321 section 4.4) and only the host writes them.
func traceHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "received", "return-path", "delivered-to":
		return true
	}
	return strings.HasPrefix(n, "resent-")
}

// signatureHeader reports signature fields (DKIM, RFC 6376; ARC, RFC 8617).
// A plugin may add one — signing is a filter's job — but never set or
// remove one: a signature another hop made is evidence, not ours to edit.
func signatureHeader(name string) bool {
	switch strings.ToLower(name) {
	case "dkim-signature", "arc-seal", "arc-message-signature", "arc-authentication-results":
		return true
	}
	return false
}

// maxHeaderIndex bounds HeaderChange.Index; a header has far fewer fields.
const maxHeaderIndex = 1 << 20

const (
	maxHeaderNameBytes = 128
	maxLineBytes       = hdrrule.MaxLine
)

func validHeaderName(name string) error {
	if name == "" || len(name) > maxHeaderNameBytes {
		return fmt.Errorf("header name %q: empty or longer than %d bytes", name, maxHeaderNameBytes)
	}
	for i := 0; i < len(name); i++ { // RFC 5322 ftext: %d33-57 / %d59-126
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return fmt.Errorf("header name %q: invalid character %q", name, c)
		}
	}
	return nil
}

// smtpUTF8 reports whether the transaction's MAIL FROM carried SMTPUTF8
// (RFC 6531), which lets the message's header hold UTF-8.
func smtpUTF8(txn *Txn) bool {
	if txn == nil {
		return false
	}
	for k := range txn.MailParams {
		if strings.EqualFold(k, "SMTPUTF8") {
			return true
		}
	}
	return false
}

func hasRecipient(rcpts []Recipient, a string) bool {
	for _, r := range rcpts {
		if strings.EqualFold(r.Addr, a) {
			return true
		}
	}
	return false
}

// convertChanges validates a plugin's wire changes against the transaction
// and the message's parts and converts them.
func convertChanges(w *abi.Changes, txn *Txn, parts []part) (*Changes, error) {
	// Each recipient change costs the relay work per recipient of the
	// transaction, and each added recipient a delivery: bounded, like RCPT.
	for _, l := range []struct {
		name string
		n    int
	}{
		{"add_recipients", len(w.AddRecipients)}, {"remove_recipients", len(w.RemoveRecipients)},
		{"replace_recipients", len(w.ReplaceRecipients)}, {"reroute", len(w.Reroute)},
	} {
		if l.n > abi.MaxRecipientChanges {
			return nil, fmt.Errorf("%s: %d entries (at most %d)", l.name, l.n, abi.MaxRecipientChanges)
		}
	}
	ch := &Changes{}
	smtputf8 := smtpUTF8(txn)
	for _, h := range w.Headers {
		if err := validHeaderName(h.Name); err != nil {
			return nil, err
		}
		if traceHeader(h.Name) {
			return nil, fmt.Errorf("header %s is a trace field and may not be changed", h.Name)
		}
		if signatureHeader(h.Name) && h.Op != abi.HeaderAdd && h.Op != abi.HeaderPrepend {
			return nil, fmt.Errorf("header %s is a signature field: it may be added, not %s", h.Name, h.Op)
		}
		if h.Index != 0 && (h.Op != abi.HeaderRemove || h.Index < 0 || h.Index > maxHeaderIndex) {
			return nil, fmt.Errorf("header %s %s: index %d is only for remove, from 1", h.Op, h.Name, h.Index)
		}
		switch h.Op {
		case abi.HeaderAdd, abi.HeaderPrepend, abi.HeaderSet:
			if err := hdrrule.Check(h.Name, h.Value, smtputf8); err != nil {
				return nil, err
			}
		case abi.HeaderRemove:
			if h.Value != "" {
				return nil, fmt.Errorf("header remove %s: value must be empty", h.Name)
			}
		default:
			return nil, fmt.Errorf("unknown header op %q", h.Op)
		}
		ch.Headers = append(ch.Headers, HeaderChange{Op: HeaderOp(h.Op), Name: h.Name, Value: h.Value, Index: h.Index})
	}
	var rcpts []Recipient
	if txn != nil {
		rcpts = txn.Recipients
	}
	if w.Sender != nil {
		if *w.Sender != "" {
			if err := mailbox.Check(*w.Sender); err != nil {
				return nil, fmt.Errorf("sender: %w", err)
			}
		}
		s := *w.Sender
		ch.Sender = &s
	}
	for _, r := range w.AddRecipients {
		if err := mailbox.Check(r.Addr); err != nil {
			return nil, fmt.Errorf("add recipient: %w", err)
		}
		ch.AddRecipients = append(ch.AddRecipients, Recipient{Addr: r.Addr, Params: r.Params})
	}
	for _, a := range w.RemoveRecipients {
		if !hasRecipient(rcpts, a) {
			return nil, fmt.Errorf("remove recipient %q: not a recipient of this transaction", a)
		}
		ch.RemoveRecipients = append(ch.RemoveRecipients, a)
	}
	for _, r := range w.ReplaceRecipients {
		if !hasRecipient(rcpts, r.From) {
			return nil, fmt.Errorf("replace recipient %q: not a recipient of this transaction", r.From)
		}
		if err := mailbox.Check(r.To); err != nil {
			return nil, fmt.Errorf("replace recipient: %w", err)
		}
		ch.ReplaceRecipients = append(ch.ReplaceRecipients, RecipientChange{From: r.From, To: r.To})
	}
	for _, r := range w.Reroute {
		if !hasRecipient(rcpts, r.Rcpt) {
			return nil, fmt.Errorf("reroute %q: not a recipient of this transaction", r.Rcpt)
		}
		if !abi.ValidRouteName(r.Route) {
			return nil, fmt.Errorf("reroute %q: invalid route name %q", r.Rcpt, r.Route)
		}
		ch.Reroutes = append(ch.Reroutes, Reroute{Recipient: r.Rcpt, Route: r.Route})
	}
	if w.Body != nil {
		ch.ReplaceBody, ch.Body = true, *w.Body
	}
	for _, p := range w.Parts {
		if ch.ReplaceBody {
			return nil, fmt.Errorf("part %s: cannot replace a part and the whole body at once", p.Path)
		}
		if err := validPartReplacement(p, parts); err != nil {
			return nil, err
		}
		for _, q := range ch.Parts {
			if overlaps(p.Path, q.Path) {
				return nil, fmt.Errorf("part %s: overlaps part %s replaced by the same result", p.Path, q.Path)
			}
		}
		ch.Parts = append(ch.Parts, PartReplacement{Path: p.Path, ContentType: p.ContentType, Disposition: p.Disposition, Content: p.Body})
	}
	return ch, nil
}

func validPartReplacement(p abi.PartReplace, parts []part) error {
	found := false
	for _, q := range parts {
		if q.Path == p.Path {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("part %q: no such part", p.Path)
	}
	mt, params, err := mime.ParseMediaType(p.ContentType)
	if err != nil || strings.ContainsAny(p.ContentType, "\r\n") {
		return fmt.Errorf("part %s: invalid content type %q", p.Path, p.ContentType)
	}
	if strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/") {
		return fmt.Errorf("part %s: a replacement must be a leaf part, not %s", p.Path, mt)
	}
	// The content is given decoded, as UTF-8; the writer (go-message)
	// encodes no other charset, so another would fail when applied.
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return fmt.Errorf("part %s: charset %q: give the content in UTF-8 with charset=utf-8", p.Path, cs)
	}
	if p.Disposition != "" {
		if _, _, err := mime.ParseMediaType(p.Disposition); err != nil || strings.ContainsAny(p.Disposition, "\r\n") {
			return fmt.Errorf("part %s: invalid content disposition %q", p.Path, p.Disposition)
		}
	}
	return nil
}

// overlaps reports whether one part path contains the other ("2" and "2.1").
func overlaps(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+".") || strings.HasPrefix(b, a+".")
}

// takeMessageChanges moves the message changes (header, body and parts)
// out of ch into new Changes, leaving the envelope changes.
func (ch *Changes) takeMessageChanges() *Changes {
	m := &Changes{Headers: ch.Headers, ReplaceBody: ch.ReplaceBody, Body: ch.Body, Parts: ch.Parts}
	ch.Headers, ch.ReplaceBody, ch.Body, ch.Parts = nil, false, nil, nil
	return m
}

// collides reports why a later filter's changes cannot join the chain's
// total ch (nil: they can). Where the filters saw the same message
// (Chain.Data, or no rewrite between them), a body or part change that
// collides with an earlier filter's is refused rather than guessed at; and
// the chain's envelope changes stay within the limit of one result.
func (ch *Changes) collides(next *Changes) error {
	if ch == nil {
		return nil
	}
	if next.ReplaceBody && (ch.ReplaceBody || len(ch.Parts) > 0) {
		return fmt.Errorf("body replacement collides with an earlier filter's body or part change")
	}
	for _, p := range next.Parts {
		if ch.ReplaceBody {
			return fmt.Errorf("part %s: an earlier filter replaced the whole body", p.Path)
		}
		for _, q := range ch.Parts {
			if overlaps(p.Path, q.Path) {
				return fmt.Errorf("part %s: an earlier filter replaced part %s", p.Path, q.Path)
			}
		}
	}
	for _, l := range []struct {
		name     string
		had, add int
	}{
		{"add_recipients", len(ch.AddRecipients), len(next.AddRecipients)},
		{"remove_recipients", len(ch.RemoveRecipients), len(next.RemoveRecipients)},
		{"replace_recipients", len(ch.ReplaceRecipients), len(next.ReplaceRecipients)},
		{"reroute", len(ch.Reroutes), len(next.Reroutes)},
	} {
		if l.add > 0 && l.had+l.add > abi.MaxRecipientChanges {
			return fmt.Errorf("%s: %d entries in the chain (at most %d)", l.name, l.had+l.add, abi.MaxRecipientChanges)
		}
	}
	return nil
}

// merge appends a later filter's changes, which collides has accepted, to
// the chain's total.
func (ch *Changes) merge(next *Changes) {
	ch.Headers = append(ch.Headers, next.Headers...)
	if next.Sender != nil {
		ch.Sender = next.Sender
	}
	ch.AddRecipients = append(ch.AddRecipients, next.AddRecipients...)
	ch.RemoveRecipients = append(ch.RemoveRecipients, next.RemoveRecipients...)
	ch.ReplaceRecipients = append(ch.ReplaceRecipients, next.ReplaceRecipients...)
	ch.Reroutes = append(ch.Reroutes, next.Reroutes...)
	if next.ReplaceBody {
		ch.ReplaceBody, ch.Body = true, next.Body
	}
	ch.Parts = append(ch.Parts, next.Parts...)
}
