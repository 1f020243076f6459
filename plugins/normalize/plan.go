package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-mail/sluice/plugins/internal/hdrtext"
	"github.com/sluice-mail/sluice/sdk"
	"github.com/sluice-mail/sluice/sdk/hdrrule"
)

// message is what the plan needs of a data event; plain values so the
// plan is tested outside the sandbox.
type message struct {
	Txn      sdk.Txn
	Header   sdk.Header
	BodySize int64
	Parts    []sdk.Part
	Body     func() io.Reader
	BodyAt   io.ReaderAt // the same body, read at the parts' offsets
}

// env supplies the clock and the randomness of added fields.
type env struct {
	Now    time.Time
	Random io.Reader
}

// headerOp is one header change, as sdk.Changes would send it.
type headerOp struct {
	Op, Name, Value string
	Index           int
}

// edits are the changes for one message, in a form tests can read.
type edits struct {
	Headers []headerOp
	Body    []byte    // nil: unchanged
	Parts   []partFix // parts re-encoded alone (never with Body)
}

func (e *edits) add(name, value string) *edits {
	e.Headers = append(e.Headers, headerOp{Op: "add", Name: name, Value: value})
	return e
}
func (e *edits) set(name, value string) *edits {
	e.Headers = append(e.Headers, headerOp{Op: "set", Name: name, Value: value})
	return e
}
func (e *edits) removeAt(name string, n int) *edits {
	e.Headers = append(e.Headers, headerOp{Op: "remove", Name: name, Index: n})
	return e
}

// changes converts the edits for the host.
func (e *edits) changes() *sdk.Changes {
	c := new(sdk.Changes)
	for _, h := range e.Headers {
		switch h.Op {
		case "add":
			c.AddHeader(h.Name, h.Value)
		case "set":
			c.SetHeader(h.Name, h.Value)
		case "remove":
			c.RemoveHeaderAt(h.Name, h.Index)
		}
	}
	if e.Body != nil {
		c.ReplaceBody(e.Body)
	}
	for _, p := range e.Parts {
		c.ReplacePart(p.Path, p.ContentType, p.Disposition, p.Content)
	}
	return c
}

// plan works out the changes for one message (nil: none). notes say what
// was done or skipped and why, for the log. An error means the body could
// not be read.
func (s *settings) plan(m message, en env) (*edits, []string, error) {
	ch := new(edits)
	empty := true
	var notes []string
	sigs := parseSignatures(m.Header)
	smtputf8 := hdrtext.SMTPUTF8(m.Txn.MailParams)

	// Header fields: RFC 2047 words to UTF-8, then folding.
	count := map[string]int{}
	for _, f := range m.Header {
		count[strings.ToLower(f.Name)]++
	}
	seen := map[string]int{}
	type edit struct {
		name, value string
		nth         int  // 1-based among fields of that name
		content     bool // the text changed, not only its folding
	}
	var edits []edit
	for _, f := range m.Header {
		n := strings.ToLower(f.Name)
		seen[n]++
		if protected(n) || strings.ContainsRune(f.Value, utf8.RuneError) {
			continue
		}
		v, content := f.Value, false
		if s.utf8Headers && smtputf8 {
			if d, ok := decodeToUTF8(f.Name, v); ok {
				v, content = d, true
			}
		}
		if s.fold && longestLine(f.Name, v) > foldAt {
			fv, _ := foldValue(f.Name, v)
			if longestLine(f.Name, fv) > maxLine && unstructured[n] {
				if ev, ok := reencodeLong(f.Name, v); ok {
					fv, content = ev, true
				}
			}
			v = fv
		}
		if v == f.Value {
			continue
		}
		if longestLine(f.Name, v) > maxLine {
			notes = append(notes, fmt.Sprintf("%s has a line over %d bytes that cannot be folded; left as it is", f.Name, maxLine))
			continue
		}
		edits = append(edits, edit{name: f.Name, value: v, nth: seen[n], content: content})
	}
	for _, e := range edits {
		n := strings.ToLower(e.name)
		moved := count[n] > 1 // a repeated field is re-added at the end
		if sigs.covers(n) && !s.dkimNormalize && (e.content || moved || !sigs.relaxed(n)) {
			notes = append(notes, fmt.Sprintf("%s not normalized: covered by a DKIM-Signature (set dkim = \"normalize\" to change it anyway)", e.name))
			continue
		}
		// The host's rule (ABI.md 3.3): one bad field is dropped here
		// rather than have the whole result refused. Folding keeps raw
		// 8-bit text, which a message without SMTPUTF8 may not get.
		if err := hdrrule.Check(e.name, e.value, smtputf8); err != nil {
			notes = append(notes, fmt.Sprintf("%s not normalized: %v", e.name, err))
			continue
		}
		if moved {
			ch.removeAt(e.name, e.nth).add(e.name, e.value)
		} else {
			ch.set(e.name, e.value)
		}
		empty = false
		if e.content {
			notes = append(notes, e.name+": encoded-words decoded or re-encoded")
		} else {
			notes = append(notes, e.name+": folded")
		}
	}

	// Missing Date and Message-ID (RFC 5322 section 3.6).
	add := func(name, value string) {
		if sigs.covers(strings.ToLower(name)) && !s.dkimNormalize {
			// A signature over an absent field signs its absence (RFC 6376 section 5.4).
			notes = append(notes, name+" not added: a DKIM-Signature covers its absence")
			return
		}
		ch.add(name, value)
		empty = false
		notes = append(notes, name+" added")
	}
	if s.date && !m.Header.Has("Date") {
		add("Date", en.Now.UTC().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	}
	if s.messageID && !m.Header.Has("Message-ID") {
		id, err := newMessageID(en.Random, s.hostname)
		if err != nil {
			return nil, notes, err
		}
		add("Message-ID", id)
	}

	// The body.
	if s.encode8bit || s.html != nil && hasHTML(m.Parts) {
		whole := true // the body could not be rewritten whole
		switch {
		case m.BodySize > s.maxSize:
			notes = append(notes, fmt.Sprintf("body of %d bytes above max_size (%d): not rewritten whole", m.BodySize, s.maxSize))
			whole = false
		default:
			res, err := rewriteBody(m.Body(), m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"),
				bodyPolicy{encode8bit: s.encode8bit, html: s.html}, maxResultBody)
			if err == errTooLarge {
				notes = append(notes, fmt.Sprintf("rewritten body above max_size (%d): not rewritten whole", s.maxSize))
				whole = false
				break
			}
			if err != nil {
				return nil, notes, fmt.Errorf("reading the body: %w", err)
			}
			if !res.Changed {
				notes = append(notes, res.Notes...)
				break
			}
			if len(sigs) > 0 && !s.dkimNormalize {
				notes = append(notes, "body not normalized: the message carries a DKIM-Signature (set dkim = \"normalize\" to change it anyway)")
				break
			}
			notes = append(notes, res.Notes...)
			ch.Body = res.Body
			if res.RootCTE != "" {
				ch.set("Content-Transfer-Encoding", res.RootCTE)
				if !m.Header.Has("MIME-Version") {
					ch.set("MIME-Version", "1.0")
				}
				notes = append(notes, "body re-encoded as "+res.RootCTE)
			}
			empty = false
		}
		if !whole && s.encode8bit {
			// A next hop without 8BITMIME still must not get 8-bit
			// content: re-encode the parts that need it, one by one.
			n, err := s.planParts(m, sigs, ch)
			notes = append(notes, n...)
			if err != nil {
				return nil, notes, fmt.Errorf("reading the body: %w", err)
			}
			empty = empty && len(ch.Parts) == 0
		}
	}
	if s.encode8bit {
		for _, f := range m.Header {
			if has8bit([]byte(f.Value)) {
				notes = append(notes, "message header holds 8-bit text (an SMTPUTF8 message): left as it is")
				break
			}
		}
	}
	if empty {
		return nil, notes, nil
	}
	return ch, notes, nil
}

// reencodeLong writes an unstructured value whose words are too long to
// fold as RFC 2047 encoded-words of at most 75 characters, folded between
// them; decoding gives the same text.
func reencodeLong(name, v string) (string, bool) {
	d, err := wordDecoder.DecodeHeader(unfold(v))
	if err != nil || !utf8.ValidString(d) || hasControl(d) {
		return "", false
	}
	f, _ := foldValue(name, encodeAll(d))
	return f, longestLine(name, f) <= maxLine
}

// encodeAll encodes the whole text as encoded-words (spaces included, so
// they survive decoding).
func encodeAll(s string) string { return bEncode("utf-8", s) }

func hasHTML(parts []sdk.Part) bool {
	for _, p := range parts {
		if p.ContentType == "text/html" || p.ContentType == "message/rfc822" {
			return true
		}
	}
	return false
}

// protected fields are never changed: trace fields and signatures belong
// to the hops that wrote them (the host refuses such changes anyway).
func protected(n string) bool {
	switch n {
	case "received", "return-path", "delivered-to", "dkim-signature", "arc-seal",
		"arc-message-signature", "arc-authentication-results":
		return true
	}
	return strings.HasPrefix(n, "resent-")
}

// newMessageID makes "<128 random bits in hex@hostname>" (RFC 5322
// section 3.6.4): unique without any state shared between instances.
func newMessageID(r io.Reader, host string) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return "<" + hex.EncodeToString(b[:]) + "@" + host + ">", nil
}

// signatures are the DKIM-Signature fields' h= lists and header
// canonicalizations (RFC 6376 section 3.5).
type signatures []signature

type signature struct {
	fields  map[string]bool
	relaxed bool // c=relaxed/...: folding does not change the signed form
}

func parseSignatures(h sdk.Header) signatures {
	var out signatures
	for _, v := range h.Values("DKIM-Signature") {
		s := signature{fields: map[string]bool{}}
		for _, tag := range strings.Split(v, ";") {
			k, val, ok := strings.Cut(tag, "=")
			if !ok {
				continue
			}
			val = strings.Join(strings.Fields(val), "")
			switch strings.TrimSpace(k) {
			case "h":
				for _, f := range strings.Split(val, ":") {
					if f != "" {
						s.fields[strings.ToLower(f)] = true
					}
				}
			case "c":
				hc, _, _ := strings.Cut(val, "/")
				s.relaxed = strings.EqualFold(hc, "relaxed")
			}
		}
		out = append(out, s)
	}
	return out
}

// covers reports whether a signature covers field n (lower-case).
func (ss signatures) covers(n string) bool {
	for _, s := range ss {
		if s.fields[n] {
			return true
		}
	}
	return false
}

// relaxed reports whether every signature covering n canonicalizes
// header fields with "relaxed", which unfolds them.
func (ss signatures) relaxed(n string) bool {
	for _, s := range ss {
		if s.fields[n] && !s.relaxed {
			return false
		}
	}
	return true
}
