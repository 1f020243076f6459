package main

import (
	"fmt"
	"net/mail"
	"strings"

	"github.com/sluice-mail/sluice/plugins/internal/hdrtext"
	"github.com/sluice-mail/sluice/sdk"
	"github.com/sluice-mail/sluice/sdk/hdrrule"
)

// Plan is what the filter asks of the host for one message; it is built
// by plain Go code so it can be tested outside the sandbox.
type Plan struct {
	Sender    *string           // new envelope sender
	Replace   [][2]string       // envelope recipient from → to
	Remove    []string          // recipients dropped because they became duplicates
	Reroute   [][2]string       // recipient → route (domain block)
	Headers   map[string]string // field name → new value (set)
	HeaderSeq []string          // field names in the order to set
	Notes     []string          // what was skipped and why, for the log
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	return p.Sender == nil && len(p.Replace) == 0 && len(p.Remove) == 0 && len(p.Reroute) == 0 && len(p.HeaderSeq) == 0
}

// Changes converts the plan for the host.
func (p *Plan) Changes() *sdk.Changes {
	c := new(sdk.Changes)
	if p.Sender != nil {
		c.SetSender(*p.Sender)
	}
	for _, r := range p.Replace {
		c.ReplaceRecipient(r[0], r[1])
	}
	for _, r := range p.Remove {
		c.RemoveRecipient(r)
	}
	for _, r := range p.Reroute {
		c.Reroute(r[0], r[1])
	}
	for _, n := range p.HeaderSeq {
		c.SetHeader(n, p.Headers[n])
	}
	return c
}

// MakePlan applies the rewriter to a transaction and its header. An error
// (a loop through regexp rules) means the message must not pass unchanged
// by mistake: the caller tempfails it.
func (rw *Rewriter) MakePlan(txn sdk.Txn, h sdk.Header) (*Plan, error) {
	p := &Plan{Headers: map[string]string{}}
	if txn.From != "" {
		s, err := rw.Sender(txn.From)
		if err != nil {
			return nil, err
		}
		if s != txn.From {
			p.Sender = &s
		}
	}
	final := map[string]bool{} // lower-cased addresses the message goes to after the plan
	for _, r := range txn.Recipients {
		final[strings.ToLower(r.Addr)] = true
	}
	for _, r := range txn.Recipients {
		to, err := rw.Recipient(r.Addr)
		if err != nil {
			return nil, err
		}
		if to == r.Addr {
			if route := rw.Route(r.Addr); route != "" {
				p.Reroute = append(p.Reroute, [2]string{r.Addr, route})
			}
			continue
		}
		delete(final, strings.ToLower(r.Addr))
		if final[strings.ToLower(to)] {
			// Two recipients now name one mailbox: deliver it once.
			p.Remove = append(p.Remove, r.Addr)
			continue
		}
		final[strings.ToLower(to)] = true
		p.Replace = append(p.Replace, [2]string{r.Addr, to})
		if route := rw.Route(to); route != "" {
			// The host matches a reroute against the transaction's
			// original recipients, so a rewritten one cannot also be
			// rerouted in the same pass: its new domain's block applies.
			p.Notes = append(p.Notes, fmt.Sprintf("recipient %s rewritten to %s: reroute to %q not applied (the new address's domain block delivers it)", r.Addr, to, route))
		}
	}
	signed := dkimSigned(h)
	smtputf8 := hdrtext.SMTPUTF8(txn.MailParams)
	for _, name := range rw.headerFields {
		vals := h.Values(name)
		if len(vals) == 0 {
			continue
		}
		nv, changed, err := rw.rewriteField(name, vals)
		if err != nil {
			return nil, err
		}
		if !changed {
			continue
		}
		if signed[strings.ToLower(name)] && !rw.dkimRewrite {
			p.Notes = append(p.Notes, fmt.Sprintf("%s not rewritten: covered by a DKIM-Signature (set dkim = \"rewrite\" to rewrite anyway)", name))
			continue
		}
		canon := canonicalName(name)
		if err := hdrrule.Check(canon, nv, smtputf8); err != nil {
			// A non-ASCII address has no 7-bit form (RFC 2047 may not
			// encode an addr-spec): without SMTPUTF8 the host would refuse
			// the whole result.
			p.Notes = append(p.Notes, fmt.Sprintf("%s not rewritten: %v", name, err))
			continue
		}
		p.Headers[canon] = nv
		p.HeaderSeq = append(p.HeaderSeq, canon)
	}
	return p, nil
}

func canonicalName(n string) string {
	switch strings.ToLower(n) {
	case "reply-to":
		return "Reply-To"
	case "cc":
		return "Cc"
	}
	return strings.ToUpper(n[:1]) + strings.ToLower(n[1:])
}

// rewriteField rewrites the addresses of every field named name. Fields
// that do not parse as address lists are left alone (changed is false).
func (rw *Rewriter) rewriteField(name string, vals []string) (string, bool, error) {
	var all []*mail.Address
	changed := false
	for _, v := range vals {
		list, err := mail.ParseAddressList(v)
		if err != nil {
			return "", false, nil
		}
		for _, a := range list {
			na, err := rw.HeaderAddress(name, a.Address)
			if err != nil {
				return "", false, err
			}
			if na != a.Address {
				a.Address = na
				changed = true
			}
		}
		all = append(all, list...)
	}
	if !changed {
		return "", false, nil
	}
	return formatList(name, all), true, nil
}

// formatList renders addresses as a header value folded before 78
// columns where it can: between addresses, and between the encoded-words
// of a long display name.
func formatList(name string, list []*mail.Address) string {
	var b strings.Builder
	col := len(name) + 2
	for i, a := range list {
		if i > 0 {
			b.WriteByte(',')
			col++
			if s := formatAddress(a, col+1); col+1+len(firstLine(s)) > 78 {
				b.WriteString("\r\n")
				col = 0
			}
			b.WriteByte(' ')
			col++
		}
		s := formatAddress(a, col)
		b.WriteString(s)
		if i := strings.LastIndex(s, "\r\n"); i >= 0 {
			col = len(s) - i - 2
		} else {
			col += len(s)
		}
	}
	return b.String()
}

// formatAddress renders one mailbox starting at column col. net/mail
// encodes a non-ASCII display name but in one line however long, so such
// a name is written here, as encoded-words folded by hdrtext. The address
// stays as it is: non-ASCII, it needs SMTPUTF8 (MakePlan checks).
func formatAddress(a *mail.Address, col int) string {
	if hdrtext.ASCII(a.Name) {
		return a.String()
	}
	return hdrtext.Phrase(a.Name, col) + " " + (&mail.Address{Address: a.Address}).String()
}

func firstLine(s string) string {
	if i := strings.Index(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// dkimSigned returns the lower-cased names of the fields any
// DKIM-Signature covers (its h= tag, RFC 6376 section 3.5).
func dkimSigned(h sdk.Header) map[string]bool {
	out := map[string]bool{}
	for _, sig := range h.Values("DKIM-Signature") {
		for _, tag := range strings.Split(sig, ";") {
			k, v, ok := strings.Cut(tag, "=")
			if !ok || strings.TrimSpace(k) != "h" {
				continue
			}
			for _, f := range strings.Split(v, ":") {
				f = strings.ToLower(strings.Join(strings.Fields(f), ""))
				if f != "" {
					out[f] = true
				}
			}
		}
	}
	return out
}
