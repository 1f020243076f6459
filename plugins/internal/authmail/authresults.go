package authmail

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"github.com/sluice-mail/sluice/sdk"
)

// FormatAuthResults formats an Authentication-Results value (RFC 8601),
// folded before each result so that lines stay short.
func FormatAuthResults(authservID string, results []authres.Result) string {
	v := authres.Format(authservID, results)
	return strings.ReplaceAll(v, "; ", ";\r\n\t")
}

// ForgedAuthResults returns the 1-based ranks, among the message's
// Authentication-Results fields, of those that claim authservID: this relay
// is the only one that may write them, so those that arrive with the message
// are forged and must go (RFC 8601 section 5).
func ForgedAuthResults(h sdk.Header, authservID string) []int {
	var ranks []int
	n := 0
	for _, f := range h {
		if !strings.EqualFold(f.Name, "Authentication-Results") {
			continue
		}
		n++
		if strings.EqualFold(authservIDOf(sdk.Unfold(f.Value)), authservID) {
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
