package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sluice-mail/sluice/plugins/internal/pluginconf"
)

// Config is the filter's `config = { ... }` block. Give each policy its own
// filter block and attach it to the domains whose next hop needs it.
type Config struct {
	// EightBit is "keep" (default) or "encode": leaf parts with 8-bit
	// bytes, NULs or lines over 998 bytes are re-encoded as
	// quoted-printable (mostly-ASCII text) or base64 (anything else), for
	// a next hop without 8BITMIME (RFC 6152).
	EightBit string `json:"eight_bit"`
	// Fold folds header lines longer than 78 characters at their
	// whitespace (RFC 5322 section 2.2.3). Default true.
	Fold *bool `json:"fold"`
	// Date and MessageID add the field when the message has none.
	// Default true. MessageID needs Hostname.
	Date      *bool `json:"date"`
	MessageID *bool `json:"message_id"`
	// Hostname is the right-hand side of added Message-IDs: the relay's
	// host name (a plugin cannot read the relay's own configuration).
	Hostname string `json:"hostname"`
	// UTF8Headers decodes RFC 2047 encoded-words (Subject, Comments,
	// Keywords, display names of address fields) into UTF-8, for
	// messages that travel with SMTPUTF8 (RFC 6531/6532).
	UTF8Headers bool `json:"utf8_headers"`
	// HTML strips active or remote content from text/html parts.
	HTML *HTMLConfig `json:"html"`
	// MaxSize is the largest body rewritten whole (bytes or "4MiB"); in a
	// larger one only 8-bit leaf parts are re-encoded, one by one
	// (partFixes), the rest passes unchanged, logged. Default 4 MiB, which the default 64 MiB
	// of filter memory holds; at most 11 MiB, since the rewritten body
	// travels base64-encoded in a result of at most 16 MiB.
	MaxSize json.RawMessage `json:"max_size"`
	// DKIM is what to do with a change that would invalidate a
	// DKIM-Signature: "skip" (default: leave that part of the message
	// alone, logged) or "normalize" (change it anyway, for a relay that
	// signs again after this filter).
	DKIM string `json:"dkim"`
}

// HTMLConfig selects what is stripped from HTML parts.
type HTMLConfig struct {
	// Scripts: <script>, event handler attributes, javascript: and
	// vbscript: URLs, frames, objects, embeds, meta refresh, CSS
	// expression(). Default true.
	Scripts *bool `json:"scripts"`
	// RemoteImages: image sources and backgrounds, CSS url() and
	// stylesheet links that load from the network. Default true.
	RemoteImages *bool `json:"remote_images"`
}

// settings is the checked configuration.
type settings struct {
	encode8bit    bool
	fold          bool
	date          bool
	messageID     bool
	hostname      string
	utf8Headers   bool
	html          *htmlPolicy
	maxSize       int64
	dkimNormalize bool
}

// maxResultBody is what fits, base64-encoded, in the host's 16 MiB result.
const maxResultBody = 11 << 20

func parseConfig(js []byte) (*settings, error) {
	var c Config
	if len(bytes.TrimSpace(js)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, err
		}
	}
	s := &settings{fold: true, date: true, messageID: true, maxSize: 4 << 20}
	switch c.EightBit {
	case "", "keep":
	case "encode":
		s.encode8bit = true
	default:
		return nil, fmt.Errorf("eight_bit %q: want \"keep\" or \"encode\"", c.EightBit)
	}
	switch c.DKIM {
	case "", "skip":
	case "normalize":
		s.dkimNormalize = true
	default:
		return nil, fmt.Errorf("dkim %q: want \"skip\" or \"normalize\"", c.DKIM)
	}
	s.fold = boolOr(c.Fold, true)
	s.date = boolOr(c.Date, true)
	s.messageID = boolOr(c.MessageID, true)
	s.hostname = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(c.Hostname), "."))
	if s.hostname != "" && !validHostname(s.hostname) {
		return nil, fmt.Errorf("hostname %q: not a domain name", c.Hostname)
	}
	if s.messageID && s.hostname == "" {
		return nil, fmt.Errorf("hostname is required to add Message-ID fields (or set message_id = false)")
	}
	s.utf8Headers = c.UTF8Headers
	if c.HTML != nil {
		s.html = &htmlPolicy{scripts: boolOr(c.HTML.Scripts, true), remoteImages: boolOr(c.HTML.RemoteImages, true)}
		if !s.html.scripts && !s.html.remoteImages {
			s.html = nil
		}
	}
	if len(c.MaxSize) > 0 {
		n, err := pluginconf.Size(c.MaxSize)
		if err != nil {
			return nil, fmt.Errorf("max_size: %v", err)
		}
		if n > maxResultBody {
			return nil, fmt.Errorf("max_size %s: at most %d bytes (the rewritten body must fit the host's 16 MiB result)", c.MaxSize, maxResultBody)
		}
		s.maxSize = n
	}
	return s, nil
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// validHostname accepts LDH labels separated by dots.
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
