package authmail

import (
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"github.com/sluice-mail/sluice/sdk"
	"github.com/sluice-mail/sluice/sdk/hdrrule"
)

// maxProperty bounds a property's value: the longest address (RFC 5321
// section 4.5.3.1: 64-byte local part, "@", 255-byte domain). With the
// 80-byte reasons, a result's line stays well within 998 bytes, however
// long the i= tag of a hostile signature.
const maxProperty = 64 + 1 + 255

// FormatAuthResults formats an Authentication-Results value (RFC 8601),
// folded before each result so that lines stay short, as the host takes
// it in a message sent with SMTPUTF8 or without (smtputf8): every domain
// in A-labels (ASCIIDomain), whatever form the message or DNS gave it in.
// A property the host would still refuse (a UTF-8 local part without
// SMTPUTF8, a control character, a value longer than any address) or
// naming a domain that is not a valid IDN is
// left out of its result rather than losing the whole field, and
// described in dropped for the caller to log. The authserv-id must be
// ASCII (the filters' configs convert it); value is "" only when the
// field would be refused all the same, which dropped then says.
func FormatAuthResults(authservID string, results []authres.Result, smtputf8 bool) (value string, dropped []string) {
	prop := func(method, name, v string) string {
		if v == "" {
			return ""
		}
		err := hdrrule.Check("Authentication-Results", v, smtputf8)
		if err == nil && len(v) > maxProperty {
			err = fmt.Errorf("value of %d bytes, more than any address", len(v))
		}
		for i := 0; err == nil && i < len(v); i++ {
			if v[i] < ' ' || v[i] == 0x7f {
				err = fmt.Errorf("control character %q in value", v[i])
			}
		}
		if err != nil {
			dropped = append(dropped, method+" "+name+" left out: "+err.Error())
			return ""
		}
		return v
	}
	// domain and address give a domain in A-labels, or "" (and say so)
	// for one that is not a valid IDN, in any message.
	domain := func(method, name, d string) string {
		a, ok := ASCIIDomain(d)
		if !ok {
			dropped = append(dropped, method+" "+name+" left out: not a valid IDN")
			return ""
		}
		return prop(method, name, a)
	}
	address := func(method, name, addr string) string {
		i := strings.LastIndexByte(addr, '@')
		if addr == "" || (i >= 0 && addr[i+1:] == "") {
			return prop(method, name, addr)
		}
		a, ok := ASCIIDomain(addr[i+1:])
		if !ok {
			dropped = append(dropped, method+" "+name+" left out: domain not a valid IDN")
			return ""
		}
		return prop(method, name, addr[:i+1]+a)
	}
	out := make([]authres.Result, 0, len(results))
	for _, r := range results {
		switch r := r.(type) {
		case *authres.DKIMResult:
			c := *r
			c.Reason = prop("dkim", "reason", c.Reason)
			c.Domain = domain("dkim", "header.d", c.Domain)
			c.Identifier = address("dkim", "header.i", c.Identifier)
			out = append(out, &c)
		case *authres.SPFResult:
			c := *r
			c.Reason = prop("spf", "reason", c.Reason)
			c.From = address("spf", "smtp.mailfrom", c.From)
			c.Helo = domain("spf", "smtp.helo", c.Helo)
			out = append(out, &c)
		case *authres.DMARCResult:
			c := *r
			c.Reason = prop("dmarc", "reason", c.Reason)
			c.From = domain("dmarc", "header.from", c.From)
			out = append(out, &c)
		default: // not written by the built-ins; the check below still holds
			out = append(out, r)
		}
	}
	value = strings.ReplaceAll(authres.Format(authservID, out), "; ", ";\r\n\t")
	if err := hdrrule.Check("Authentication-Results", value, smtputf8); err != nil {
		return "", append(dropped, "Authentication-Results left out: "+err.Error())
	}
	return value, dropped
}

// ForgedAuthResults returns the 1-based ranks, among the message's
// Authentication-Results fields, of those that claim authservID, in
// either case and in U-labels or A-labels: this relay is the only one
// that may write them, so those that arrive with the message are forged
// and must go (RFC 8601 section 5).
func ForgedAuthResults(h sdk.Header, authservID string) []int {
	var ranks []int
	n := 0
	for _, f := range h {
		if !strings.EqualFold(f.Name, "Authentication-Results") {
			continue
		}
		n++
		if asciiDomain(authservIDOf(sdk.Unfold(f.Value))) == asciiDomain(authservID) {
			ranks = append(ranks, n)
		}
	}
	return ranks
}

// ApplyAuthResults adds to ch the removal of the forged fields (ranks from
// ForgedAuthResults) and, unless it is "", the new Authentication-Results
// value on top.
func ApplyAuthResults(ch *sdk.Changes, forged []int, value string) {
	for _, n := range forged {
		ch.RemoveHeaderAt("Authentication-Results", n)
	}
	if value != "" {
		ch.PrependHeader("Authentication-Results", value)
	}
}

// authservIDOf is the authserv-id an Authentication-Results value starts
// with, after any comment; it does not need the rest to parse, so a
// malformed forgery is still recognised.
func authservIDOf(v string) string {
	v = skipCFWS(v)
	end := strings.IndexAny(v, "; \t()")
	if end < 0 {
		end = len(v)
	}
	return strings.Trim(v[:end], `"`)
}

// skipCFWS skips leading whitespace and (nested) comments.
func skipCFWS(v string) string {
	for {
		v = strings.TrimLeft(v, " \t\r\n")
		if !strings.HasPrefix(v, "(") {
			return v
		}
		depth := 0
		i := 0
		for ; i < len(v); i++ {
			switch v[i] {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if i >= len(v) {
			return ""
		}
		v = v[i+1:]
	}
}
