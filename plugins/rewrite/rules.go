package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/sluice-mail/sluice/sdk/abi"
	"github.com/sluice-mail/sluice/sdk/mailbox"
)

// Config is the filter's `config = { ... }` block. Every table is optional.
type Config struct {
	// Recipients rewrites envelope recipients; Senders the envelope sender;
	// Headers the addresses in HeaderFields (default From, To, Cc).
	Recipients   []Rule   `json:"recipients"`
	Senders      []Rule   `json:"senders"`
	Headers      []Rule   `json:"headers"`
	HeaderFields []string `json:"header_fields"`
	// Masquerade hides host names below a domain in the envelope sender
	// and the From field: user@host.example.com becomes user@example.com.
	Masquerade *Masquerade `json:"masquerade"`
	// Plus configures sub-addressing (joe+tag@example.org).
	Plus *Plus `json:"plus"`
	// Reroute sends matching recipients through another domain block of
	// the relay (its transport) without changing their address.
	Reroute []RerouteRule `json:"reroute"`
	// DKIM is what to do with a header field covered by a DKIM-Signature:
	// "skip" (default: leave it, so the signature stays valid) or
	// "rewrite" (rewrite it anyway, for mail a later hop re-signs: a
	// dkim filter on the same chain signs the message before this change).
	DKIM string `json:"dkim"`
}

// Rule matches an address and gives its replacement. Exactly one of Match
// and Regexp is set.
//
//	{"match": "joe@example.org", "to": "joe@fr.example.org"}   exact
//	{"match": "*@old.example",   "to": "*@new.example"}        domain-wide, keeps the local part
//	{"regexp": "(.+)\\.(.+)@corp\\.example", "to": "$1@$2.corp.example"}
type Rule struct {
	Match  string `json:"match"`
	Regexp string `json:"regexp"`
	To     string `json:"to"`
}

// RerouteRule names the domain block (route) of matching recipients.
type RerouteRule struct {
	Match  string `json:"match"`
	Regexp string `json:"regexp"`
	Route  string `json:"route"`
}

// Masquerade lists the domains whose subdomains are hidden.
type Masquerade struct {
	Domains []string `json:"domains"`
	// Exceptions are local parts never masqueraded (for example "root").
	Exceptions []string `json:"exceptions"`
}

// Plus is the sub-address handling: the tag after Separator is ignored
// when matching rules; Mode "keep" (default) puts it back on the
// rewritten address, "strip" removes it from envelope recipients.
type Plus struct {
	Separator string `json:"separator"`
	Mode      string `json:"mode"`
}

// maxSteps bounds chained rewrites (a→b→c); more is treated as a loop.
const maxSteps = 8

// matcher is a compiled Match/Regexp.
type matcher struct {
	exact  string // lower-cased local@domain
	domain string // lower-cased domain of "*@domain"
	re     *regexp.Regexp
	src    string // for messages
}

func compileMatcher(match, re string) (matcher, error) {
	switch {
	case match != "" && re != "":
		return matcher{}, errors.New("set either match or regexp, not both")
	case re != "":
		r, err := regexp.Compile("(?i)^(?:" + re + ")$")
		if err != nil {
			return matcher{}, fmt.Errorf("regexp %q: %v", re, err)
		}
		return matcher{re: r, src: re}, nil
	case strings.HasPrefix(match, "*@"):
		d := strings.ToLower(match[2:])
		if mailbox.CheckDomain(d) != nil {
			return matcher{}, fmt.Errorf("match %q: not *@domain", match)
		}
		return matcher{domain: d, src: match}, nil
	case match != "":
		if !mailbox.Valid(match) {
			return matcher{}, fmt.Errorf("match %q: not an address, *@domain or regexp", match)
		}
		return matcher{exact: strings.ToLower(match), src: match}, nil
	}
	return matcher{}, errors.New("match or regexp is required")
}

// matches reports whether addr matches and, for a regexp, the submatch indexes.
func (m *matcher) matches(addr string) (bool, []int) {
	switch {
	case m.re != nil:
		idx := m.re.FindStringSubmatchIndex(addr)
		return idx != nil, idx
	case m.domain != "":
		return strings.EqualFold(domainOf(addr), m.domain), nil
	}
	return strings.EqualFold(addr, m.exact), nil
}

type rule struct {
	matcher
	to string
}

// apply returns the replacement of addr, which m matched.
func (r *rule) apply(addr string, idx []int) string {
	switch {
	case r.re != nil:
		return string(r.re.ExpandString(nil, r.to, addr, idx))
	case strings.HasPrefix(r.to, "*@"):
		return localOf(addr) + r.to[1:]
	}
	return r.to
}

type table struct {
	name  string
	rules []rule
}

func compileTable(name string, rules []Rule) (table, error) {
	t := table{name: name}
	for i, r := range rules {
		m, err := compileMatcher(r.Match, r.Regexp)
		if err != nil {
			return t, fmt.Errorf("%s[%d]: %v", name, i, err)
		}
		switch {
		case r.To == "":
			return t, fmt.Errorf("%s[%d]: to is required", name, i)
		case m.re != nil:
			// Checked on each result at run time: captures vary.
		case strings.HasPrefix(r.To, "*@"):
			if m.domain == "" {
				return t, fmt.Errorf("%s[%d]: to %q keeps the local part, so match must be *@domain", name, i, r.To)
			}
			if mailbox.CheckDomain(r.To[2:]) != nil {
				return t, fmt.Errorf("%s[%d]: to %q: not *@domain", name, i, r.To)
			}
		case !mailbox.Valid(r.To):
			return t, fmt.Errorf("%s[%d]: to %q: not an address", name, i, r.To)
		}
		t.rules = append(t.rules, rule{matcher: m, to: r.To})
	}
	return t, nil
}

// errLoop is returned when rewriting does not settle.
var errLoop = errors.New("rewrite loop")

// once applies the first matching rule; ok is false when none matches.
func (t *table) once(addr string) (string, bool) {
	for i := range t.rules {
		if ok, idx := t.rules[i].matches(addr); ok {
			return t.rules[i].apply(addr, idx), true
		}
	}
	return addr, false
}

// resolve applies rules until none matches (a→b, b→c gives c). A chain
// that comes back to an address it passed, or is longer than maxSteps, is
// a loop.
func (t *table) resolve(addr string) (string, []string, error) {
	path := []string{addr}
	cur := addr
	for range maxSteps {
		next, ok := t.once(cur)
		if !ok || next == cur {
			return cur, path, nil // no rule, or a rule that keeps the address (a catch-all into itself)
		}
		if !mailbox.Valid(next) {
			return addr, path, fmt.Errorf("%s rewrites %q to %q, not an address", t.name, cur, next)
		}
		for _, p := range path {
			if p == next {
				return addr, append(path, next), fmt.Errorf("%w in %s: %s", errLoop, t.name, strings.Join(append(path, next), " → "))
			}
		}
		path = append(path, next)
		cur = next
	}
	return addr, path, fmt.Errorf("%w in %s: more than %d rewrites: %s", errLoop, t.name, maxSteps, strings.Join(path, " → "))
}

// checkLoops rewrites sample addresses and refuses the table if one does
// not settle: each exact match, "loop-check@D" for each *@D match, and
// each rule's replacement with its captures ($1, ${name}) and kept local
// part as "loop-check". A sample that loops is a real address that would
// loop, so nothing is refused wrongly; a loop through regexp rules that no
// sample reaches is still found per message and tempfails it.
func (t *table) checkLoops() error {
	for _, r := range t.rules {
		for i, sample := range []string{r.exact, domainSample(r.domain), replacementSample(r.to)} {
			if sample == "" || !mailbox.Valid(sample) {
				continue
			}
			// A made-up sample may lead a regexp to a result that is no
			// address; only a loop refuses the table then.
			if _, _, err := t.resolve(sample); err != nil && (i < 2 || errors.Is(err, errLoop)) {
				return err
			}
		}
	}
	return nil
}

func domainSample(d string) string {
	if d == "" {
		return ""
	}
	return "loop-check@" + d
}

// captureRef is a reference in a regexp replacement: $1, $name, ${name};
// "$$" is a literal dollar sign.
var captureRef = regexp.MustCompile(`\$(\$|\{[^}]*\}|[A-Za-z0-9_]+)`)

// replacementSample is an address a rule's "to" can produce.
func replacementSample(to string) string {
	if d, ok := strings.CutPrefix(to, "*@"); ok {
		return domainSample(d)
	}
	return captureRef.ReplaceAllStringFunc(to, func(ref string) string {
		if ref == "$$" {
			return "$"
		}
		return "loop-check"
	})
}

// Rewriter is a compiled Config.
type Rewriter struct {
	recipients, senders, headers table
	headerFields                 []string
	masqDomains                  []string
	masqExcept                   map[string]bool
	plusSep                      string
	plusStrip                    bool
	reroute                      []rerouteRule
	dkimRewrite                  bool
}

type rerouteRule struct {
	matcher
	route string
}

// Parse decodes and checks a configuration. Unknown fields are errors, so
// a misspelt table is not silently ignored.
func Parse(js []byte) (*Rewriter, error) {
	var c Config
	if len(bytes.TrimSpace(js)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("config: %v", err)
		}
	}
	return Compile(c)
}

// Compile checks c and builds its Rewriter.
func Compile(c Config) (*Rewriter, error) {
	rw := &Rewriter{masqExcept: map[string]bool{}}
	var err error
	if rw.recipients, err = compileTable("recipients", c.Recipients); err != nil {
		return nil, err
	}
	if rw.senders, err = compileTable("senders", c.Senders); err != nil {
		return nil, err
	}
	if rw.headers, err = compileTable("headers", c.Headers); err != nil {
		return nil, err
	}
	for _, t := range []*table{&rw.recipients, &rw.senders, &rw.headers} {
		if err := t.checkLoops(); err != nil {
			return nil, err
		}
	}
	rw.headerFields = c.HeaderFields
	if len(rw.headerFields) == 0 {
		rw.headerFields = []string{"From", "To", "Cc"}
	}
	for _, f := range rw.headerFields {
		switch strings.ToLower(f) {
		case "from", "to", "cc", "bcc", "reply-to", "sender":
		default:
			return nil, fmt.Errorf("header_fields: %q is not an address field (From, To, Cc, Bcc, Reply-To, Sender)", f)
		}
	}
	if m := c.Masquerade; m != nil {
		for _, d := range m.Domains {
			if mailbox.CheckDomain(strings.ToLower(d)) != nil {
				return nil, fmt.Errorf("masquerade.domains: %q is not a domain", d)
			}
			rw.masqDomains = append(rw.masqDomains, strings.ToLower(d))
		}
		for _, e := range m.Exceptions {
			rw.masqExcept[strings.ToLower(e)] = true
		}
	}
	if p := c.Plus; p != nil {
		if len(p.Separator) != 1 || strings.ContainsAny(p.Separator, "@ \"<>") {
			return nil, fmt.Errorf("plus.separator %q: want one character such as \"+\"", p.Separator)
		}
		rw.plusSep = p.Separator
		switch p.Mode {
		case "", "keep":
		case "strip":
			rw.plusStrip = true
		default:
			return nil, fmt.Errorf("plus.mode %q: want keep or strip", p.Mode)
		}
	}
	for i, r := range c.Reroute {
		m, err := compileMatcher(r.Match, r.Regexp)
		if err != nil {
			return nil, fmt.Errorf("reroute[%d]: %v", i, err)
		}
		if !abi.ValidRouteName(r.Route) {
			return nil, fmt.Errorf("reroute[%d]: route %q is not a domain block name", i, r.Route)
		}
		rw.reroute = append(rw.reroute, rerouteRule{matcher: m, route: r.Route})
	}
	switch c.DKIM {
	case "", "skip":
	case "rewrite":
		rw.dkimRewrite = true
	default:
		return nil, fmt.Errorf("dkim %q: want skip or rewrite", c.DKIM)
	}
	return rw, nil
}

// splitPlus separates a sub-address tag: "joe+news@x" → "joe@x", "+news".
func (rw *Rewriter) splitPlus(addr string) (base, tag string) {
	if rw.plusSep == "" {
		return addr, ""
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr, ""
	}
	i := strings.Index(addr[:at], rw.plusSep)
	if i <= 0 {
		return addr, ""
	}
	return addr[:i] + addr[at:], addr[i:at]
}

// addTag puts a sub-address tag back on the local part, unless it has one.
func (rw *Rewriter) addTag(addr, tag string) string {
	at := strings.LastIndexByte(addr, '@')
	if tag == "" || at < 0 || strings.Contains(addr[:at], rw.plusSep) {
		return addr
	}
	return addr[:at] + tag + addr[at:]
}

// rewrite runs one table over addr with sub-address handling: the whole
// address is tried first, then the address without its tag.
func (rw *Rewriter) rewrite(t *table, addr string, strip bool) (string, error) {
	out, path, err := t.resolve(addr)
	if err != nil || len(path) > 1 {
		return out, err
	}
	base, tag := rw.splitPlus(addr)
	if tag == "" {
		return addr, nil
	}
	out, _, err = t.resolve(base)
	if err != nil {
		return addr, err
	}
	if strip {
		return out, nil
	}
	return rw.addTag(out, tag), nil
}

// Recipient rewrites one envelope recipient.
func (rw *Rewriter) Recipient(addr string) (string, error) {
	return rw.rewrite(&rw.recipients, addr, rw.plusStrip)
}

// Sender rewrites the envelope sender, then masquerades it.
func (rw *Rewriter) Sender(addr string) (string, error) {
	if addr == "" {
		return "", nil // the null sender stays null
	}
	out, err := rw.rewrite(&rw.senders, addr, false)
	if err != nil {
		return addr, err
	}
	return rw.masquerade(out), nil
}

// HeaderAddress rewrites one address found in a header field.
func (rw *Rewriter) HeaderAddress(field, addr string) (string, error) {
	out, err := rw.rewrite(&rw.headers, addr, false)
	if err != nil {
		return addr, err
	}
	if strings.EqualFold(field, "From") || strings.EqualFold(field, "Sender") {
		out = rw.masquerade(out)
	}
	return out, nil
}

// masquerade replaces a host below a masquerade domain by the domain.
func (rw *Rewriter) masquerade(addr string) string {
	if len(rw.masqDomains) == 0 || rw.masqExcept[strings.ToLower(localOf(addr))] {
		return addr
	}
	d := strings.ToLower(domainOf(addr))
	for _, m := range rw.masqDomains {
		if strings.HasSuffix(d, "."+m) {
			return localOf(addr) + "@" + m
		}
	}
	return addr
}

// Route returns the domain block for a recipient, "" to keep its own.
func (rw *Rewriter) Route(addr string) string {
	base, _ := rw.splitPlus(addr)
	for i := range rw.reroute {
		if ok, _ := rw.reroute[i].matches(addr); ok {
			return rw.reroute[i].route
		}
		if ok, _ := rw.reroute[i].matches(base); ok {
			return rw.reroute[i].route
		}
	}
	return ""
}

func localOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[:i]
	}
	return addr
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}
