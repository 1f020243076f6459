package main

import (
	"fmt"
	"strings"

	"github.com/sluice-mail/sluice/plugins/virus/engine"
	"github.com/sluice-mail/sluice/sdk"
)

// severity orders actions: the most severe finding decides.
var severity = map[string]int{"allow": 0, "accept": 0, "strip": 1, "quarantine": 2, "tempfail": 3, "reject": 4}

// clamdResult is what the clamd callout said.
type clamdResult struct {
	Ran   bool
	Virus string // signature name, "" if clean
	Err   error  // down, slow, or an error reply
}

// verdict turns a scan into the filter's result. parts are the parts the
// host listed (for stripping); header is the X-Virus-Scan field name or "none".
func verdict(c *Config, rep *engine.Report, cl clamdResult, parts []sdk.Part) sdk.Result {
	type hit struct {
		f      engine.Finding
		action string
	}
	var hits []hit
	for _, f := range rep.Findings {
		a := "allow"
		switch f.Kind {
		case engine.KindVirus:
			a = c.Action
		case engine.KindPolicy:
			a = c.categoryAction(f.Category)
		case engine.KindLimit:
			switch c.OnLimit {
			case "detect":
				a = c.Action
			case "tempfail":
				a = "tempfail"
			}
		case engine.KindEncrypted:
			if c.Encrypted == "detect" {
				a = c.Action
			}
		}
		if a != "allow" {
			hits = append(hits, hit{f, a})
		}
	}
	if cl.Virus != "" {
		// clamd judged the message as a whole: no part to strip.
		a := c.Action
		if a == "strip" {
			a = "reject"
		}
		hits = append(hits, hit{engine.Finding{Kind: engine.KindVirus, Name: cl.Virus, Where: "message (clamd)"}, a})
	}
	if cl.Err != nil {
		switch c.Clamd.OnError {
		case "tempfail":
			hits = append(hits, hit{engine.Finding{Kind: engine.KindLimit, Name: "clamd unavailable"}, "tempfail"})
		case "reject":
			hits = append(hits, hit{engine.Finding{Kind: engine.KindLimit, Name: "clamd unavailable"}, "reject"})
		}
	}
	// Strip needs a part the host can replace; otherwise it becomes reject.
	for i := range hits {
		if hits[i].action == "strip" && hostPart(hits[i].f.Part, parts) == "" {
			hits[i].action = "reject"
		}
	}
	// The most severe action wins; among findings that ask for it, a virus
	// names the reply (554 5.7.0 Virus found: NAME) before a policy or
	// limit finding that happened to come first.
	worst := "allow"
	var top engine.Finding
	for _, h := range hits {
		if s := severity[h.action]; s > severity[worst] ||
			s == severity[worst] && h.f.Kind == engine.KindVirus && top.Kind != engine.KindVirus {
			worst, top = h.action, h.f
		}
	}
	header := func(v string) *sdk.Changes {
		ch := new(sdk.Changes)
		if c.Header != "none" {
			ch.SetHeader(c.Header, v)
		}
		return ch
	}
	names := func(action string) string {
		var ns []string
		seen := map[string]bool{}
		for _, h := range hits {
			if h.action == action && !seen[h.f.Name] {
				seen[h.f.Name] = true
				ns = append(ns, clean(h.f.Name))
			}
		}
		s := strings.Join(ns, ", ")
		if len(s) > 300 {
			s = s[:297] + "..."
		}
		return s
	}
	scanned := fmt.Sprintf("%d files, %d bytes", rep.Files, rep.Bytes)
	switch worst {
	case "reject":
		return sdk.Reject(554, "5.7.0", rejectText(top))
	case "tempfail":
		if top.Name == "clamd unavailable" {
			return sdk.Tempfail(451, "4.3.0", "Virus scanner unavailable, try again later")
		}
		return sdk.Tempfail(451, "4.7.0", "Message could not be scanned fully, try again later")
	case "quarantine":
		return sdk.Quarantine("virus filter: " + names("quarantine")).With(header("infected (" + names("quarantine") + "); quarantined; " + scanned))
	case "strip":
		ch := header("stripped (" + names("strip") + "); " + scanned)
		done := map[string]string{}
		for _, h := range hits {
			if h.action != "strip" {
				continue
			}
			p := hostPart(h.f.Part, parts)
			if _, ok := done[p]; !ok {
				done[p] = clean(h.f.Name)
			}
		}
		var order []string
		for _, pt := range parts {
			if _, ok := done[pt.Path]; ok {
				order = append(order, pt.Path)
			}
		}
		for _, p := range dropNested(order) {
			pt, _ := findPart(parts, p)
			note := fmt.Sprintf("sluice removed the attachment %q from this message: %s.\r\n", clean(pt.Filename), done[p])
			if pt.Filename == "" {
				note = fmt.Sprintf("sluice removed a part of this message: %s.\r\n", done[p])
			}
			ch.ReplacePart(p, "text/plain; charset=us-ascii", "inline", []byte(note))
		}
		return sdk.Continue().With(ch)
	}
	via := "built-in engine"
	switch {
	case cl.Ran && c.Clamd.Mode == "only":
		via = "clamd"
	case cl.Ran:
		via = "built-in engine and clamd"
	}
	return sdk.Continue().With(header("clean (" + via + "); " + scanned))
}

func rejectText(f engine.Finding) string {
	switch f.Kind {
	case engine.KindVirus:
		return "Virus found: " + clean(f.Name)
	case engine.KindPolicy:
		return "Attachment refused by policy: " + clean(f.Name)
	case engine.KindEncrypted:
		return "Encrypted attachment refused: " + clean(f.Name)
	}
	return "Message refused: " + clean(f.Name)
}

// clean makes s printable ASCII (reply text and header rules), at most 200 bytes.
func clean(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' {
			b[i] = '?'
		}
	}
	if len(b) > 200 {
		b = append(b[:197], "..."...)
	}
	return string(b)
}

func findPart(parts []sdk.Part, path string) (sdk.Part, bool) {
	for _, p := range parts {
		if p.Path == path {
			return p, true
		}
	}
	return sdk.Part{}, false
}

// hostPart maps an engine part path to the nearest part the host listed
// (the host lists at most 20 levels and 1000 parts), "" if none.
func hostPart(path string, parts []sdk.Part) string {
	for path != "" {
		if _, ok := findPart(parts, path); ok {
			return path
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return ""
		}
		path = path[:i]
	}
	return ""
}

// dropNested keeps the outermost of overlapping paths (the host refuses
// overlapping replacements); paths arrive in the host's order, parents first.
func dropNested(paths []string) []string {
	var out []string
	for _, p := range paths {
		nested := false
		for _, q := range out {
			if strings.HasPrefix(p, q+".") || p == q {
				nested = true
			}
		}
		if !nested {
			out = append(out, p)
		}
	}
	return out
}
