package sdk

import (
	"encoding/base64"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// appendResult appends the result document (ABI.md 3.2) to dst, byte for
// byte what json.Marshal(r) gives (the tests compare them), without
// reflection: field order, omitempty, HTML-safe string escaping, U+FFFD for
// invalid UTF-8, base64 for bodies, null for a nil body.
func appendResult(dst []byte, r *abi.Result) []byte {
	dst = append(dst, `{"action":`...)
	dst = appendString(dst, r.Action)
	if r.Code != 0 {
		dst = append(dst, `,"code":`...)
		dst = strconv.AppendInt(dst, int64(r.Code), 10)
	}
	if r.Enhanced != "" {
		dst = append(dst, `,"enhanced":`...)
		dst = appendString(dst, r.Enhanced)
	}
	if r.Text != "" {
		dst = append(dst, `,"text":`...)
		dst = appendString(dst, r.Text)
	}
	if r.Changes != nil {
		dst = append(dst, `,"changes":`...)
		dst = appendChanges(dst, r.Changes)
	}
	return append(dst, '}')
}

func appendChanges(dst []byte, c *abi.Changes) []byte {
	dst = append(dst, '{')
	empty := len(dst) // no member written yet while len(dst) == empty
	if len(c.Headers) > 0 {
		dst = comma(dst, empty)
		dst = append(dst, `"headers":[`...)
		for i, h := range c.Headers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"op":`...)
			dst = appendString(dst, h.Op)
			dst = append(dst, `,"name":`...)
			dst = appendString(dst, h.Name)
			if h.Value != "" {
				dst = append(dst, `,"value":`...)
				dst = appendString(dst, h.Value)
			}
			if h.Index != 0 {
				dst = append(dst, `,"index":`...)
				dst = strconv.AppendInt(dst, int64(h.Index), 10)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if c.Sender != nil {
		dst = comma(dst, empty)
		dst = append(dst, `"sender":`...)
		dst = appendString(dst, *c.Sender)
	}
	if len(c.AddRecipients) > 0 {
		dst = comma(dst, empty)
		dst = append(dst, `"add_recipients":[`...)
		for i, r := range c.AddRecipients {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"addr":`...)
			dst = appendString(dst, r.Addr)
			if len(r.Params) > 0 {
				dst = append(dst, `,"params":`...)
				dst = appendStrMap(dst, r.Params)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if len(c.RemoveRecipients) > 0 {
		dst = comma(dst, empty)
		dst = append(dst, `"remove_recipients":[`...)
		for i, r := range c.RemoveRecipients {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, r)
		}
		dst = append(dst, ']')
	}
	if len(c.ReplaceRecipients) > 0 {
		dst = comma(dst, empty)
		dst = append(dst, `"replace_recipients":[`...)
		for i, r := range c.ReplaceRecipients {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"from":`...)
			dst = appendString(dst, r.From)
			dst = append(dst, `,"to":`...)
			dst = appendString(dst, r.To)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if len(c.Reroute) > 0 {
		dst = comma(dst, empty)
		dst = append(dst, `"reroute":[`...)
		for i, r := range c.Reroute {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"rcpt":`...)
			dst = appendString(dst, r.Rcpt)
			dst = append(dst, `,"route":`...)
			dst = appendString(dst, r.Route)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if c.Body != nil {
		dst = comma(dst, empty)
		dst = append(dst, `"body":`...)
		dst = appendBytes(dst, *c.Body)
	}
	if len(c.Parts) > 0 {
		dst = comma(dst, empty)
		dst = append(dst, `"parts":[`...)
		for i, p := range c.Parts {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"path":`...)
			dst = appendString(dst, p.Path)
			dst = append(dst, `,"content_type":`...)
			dst = appendString(dst, p.ContentType)
			if p.Disposition != "" {
				dst = append(dst, `,"disposition":`...)
				dst = appendString(dst, p.Disposition)
			}
			dst = append(dst, `,"body":`...)
			dst = appendBytes(dst, p.Body)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

func comma(dst []byte, empty int) []byte {
	if len(dst) > empty {
		return append(dst, ',')
	}
	return dst
}

// appendBytes encodes a []byte as encoding/json does: base64, or null when nil.
func appendBytes(dst []byte, b []byte) []byte {
	if b == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// appendStrMap encodes a map with its keys sorted, as encoding/json does.
func appendStrMap(dst []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, m[k])
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendString is encoding/json's string encoder with HTML escaping
// (encode.go appendString): <, > and & become \u003c, \u003e and \u0026,
// invalid UTF-8 becomes \ufffd, U+2028 and U+2029 are escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
