package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/sdk"
)

// Config is the filter's `config = { ... }` block.
type Config struct {
	// MaxSize: attachments larger than this (decoded, estimated from the
	// encoded size) become links. A number of bytes or "10MiB". Default 10 MiB.
	MaxSize json.RawMessage `json:"max_size"`
	// Types: media types that always become links, "application/pdf" or "video/*".
	Types []string `json:"types"`
	// Extensions: file name extensions that always become links (".exe").
	Extensions []string `json:"extensions"`
	// TTL of the links, at most the relay's links ttl ("72h"); default: the relay's.
	TTL string `json:"ttl"`
	// ExemptDomains: if any recipient is in one of these domains the
	// message is left whole (one copy serves every recipient).
	ExemptDomains []string `json:"exempt_domains"`
	// DKIM: "skip" (default) leaves DKIM-signed messages whole, since the
	// change breaks the body hash; "convert" converts them anyway.
	DKIM string `json:"dkim"`
	// HTML: add an HTML notice next to the text one when the message has
	// an HTML part (default true).
	HTML *bool `json:"html"`
}

type settings struct {
	maxSize    int64
	types      []string
	extensions []string
	ttl        time.Duration
	exempt     map[string]bool
	dkimConv   bool
	html       bool
}

func parseConfig(js []byte) (*settings, error) {
	var c Config
	if len(bytes.TrimSpace(js)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("config: %v", err)
		}
	}
	s := &settings{maxSize: 10 << 20, exempt: map[string]bool{}, html: c.HTML == nil || *c.HTML}
	if len(c.MaxSize) > 0 {
		var n json.Number
		var str string
		switch {
		case json.Unmarshal(c.MaxSize, &n) == nil:
			v, err := n.Int64()
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("max_size %s: want a positive number of bytes", c.MaxSize)
			}
			s.maxSize = v
		case json.Unmarshal(c.MaxSize, &str) == nil:
			v, err := parseSize(str)
			if err != nil {
				return nil, fmt.Errorf("max_size %q: %v", str, err)
			}
			s.maxSize = v
		default:
			return nil, fmt.Errorf("max_size %s: want a number or a string such as \"10MiB\"", c.MaxSize)
		}
	}
	for _, t := range c.Types {
		t = strings.ToLower(strings.TrimSpace(t))
		if mt, _, err := mime.ParseMediaType(t); err != nil && !strings.HasSuffix(t, "/*") || err == nil && !strings.Contains(mt, "/") {
			return nil, fmt.Errorf("types: %q is not a media type", t)
		}
		s.types = append(s.types, t)
	}
	for _, e := range c.Extensions {
		e = strings.ToLower(strings.TrimSpace(e))
		if !strings.HasPrefix(e, ".") || len(e) < 2 {
			return nil, fmt.Errorf("extensions: %q: want a dot and an extension, such as \".exe\"", e)
		}
		s.extensions = append(s.extensions, e)
	}
	if c.TTL != "" {
		d, err := time.ParseDuration(c.TTL)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("ttl %q: want a positive duration such as \"72h\"", c.TTL)
		}
		s.ttl = d
	}
	for _, d := range c.ExemptDomains {
		s.exempt[strings.ToLower(d)] = true
	}
	switch c.DKIM {
	case "", "skip":
	case "convert":
		s.dkimConv = true
	default:
		return nil, fmt.Errorf("dkim %q: want skip or convert", c.DKIM)
	}
	return s, nil
}

// parseSize reads "123", "10KB", "10KiB", "5MB", "5MiB", "1GB", "1GiB".
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("want a positive size such as 10MiB")
	}
	mult := map[string]float64{"": 1, "b": 1, "kb": 1e3, "kib": 1 << 10, "mb": 1e6, "mib": 1 << 20, "gb": 1e9, "gib": 1 << 30}[strings.ToLower(unit)]
	if mult == 0 || v*mult > 1<<40 {
		return 0, fmt.Errorf("unknown unit %q or too large", unit)
	}
	return int64(v * mult), nil
}

// candidate reports whether part p is an attachment to turn into a link.
func (s *settings) candidate(p sdk.Part, single bool) bool {
	if p.Multipart {
		return false
	}
	isAttachment := p.Disposition == "attachment" || p.Filename != ""
	if !isAttachment && (single || strings.HasPrefix(p.ContentType, "text/") || strings.HasPrefix(p.ContentType, "multipart/")) {
		return false // a body, not an attachment
	}
	if estimate(p) > s.maxSize {
		return true
	}
	for _, t := range s.types {
		if t == p.ContentType || strings.HasSuffix(t, "/*") && strings.HasPrefix(p.ContentType, t[:len(t)-1]) {
			return true
		}
	}
	ext := strings.ToLower(path.Ext(p.Filename))
	for _, e := range s.extensions {
		if ext == e {
			return true
		}
	}
	return false
}

// estimate guesses a part's decoded size from its encoded size.
func estimate(p sdk.Part) int64 {
	switch p.Encoding {
	case "base64":
		return p.Size / 78 * 57 // 76 characters and CRLF carry 57 bytes
	case "quoted-printable":
		return p.Size * 3 / 4
	}
	return p.Size
}
