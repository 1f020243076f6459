package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"path"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/plugins/internal/pluginconf"
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
		v, err := pluginconf.Size(c.MaxSize)
		if err != nil {
			return nil, fmt.Errorf("max_size: %v", err)
		}
		s.maxSize = v
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
