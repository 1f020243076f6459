package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/plugins/virus/engine"
)

// Config is the filter's `config = { ... }` block.
type Config struct {
	// Signatures are ClamAV database files (.hdb, .hsb, .ndb) to load, read
	// through the "files" grant: each must also be listed in the filter's
	// files. Re-read every ReloadEvery, so an updated file takes effect
	// without a restart.
	Signatures []string `json:"signatures"`
	// Builtin keeps the built-in EICAR signature (default true).
	Builtin *bool `json:"builtin"`
	// Action for a virus: "reject" (default, 554 5.7.0 with the name),
	// "quarantine", or "strip" (replace the infected part by a text part).
	Action string `json:"action"`
	// Limits of one message's scan; sizes in bytes or as "32MiB".
	Limits struct {
		MaxDepth    int  `json:"max_depth"`
		MaxFiles    int  `json:"max_files"`
		MaxFileSize Size `json:"max_file_size"`
		MaxTotal    Size `json:"max_total"`
	} `json:"limits"`
	// OnLimit: what content a limit left unscanned gets: "detect" (default:
	// treated like a virus named Heuristics.Limits.Exceeded.*, so Action
	// applies), "tempfail", or "accept".
	OnLimit string `json:"on_limit"`
	// Encrypted archive members: "accept" (default) or "detect".
	Encrypted string `json:"encrypted"`
	// Attachments is the attachment policy: for each category "allow",
	// "strip", "quarantine" or "reject".
	Attachments struct {
		Executable      string `json:"executable"`       // default reject
		Script          string `json:"script"`           // default reject
		Macro           string `json:"macro"`            // default allow
		Extension       string `json:"extension"`        // default reject
		DoubleExtension string `json:"double_extension"` // default reject
		Bidi            string `json:"bidi"`             // default reject
		// Extensions replaces the list of dangerous extensions.
		Extensions []string `json:"extensions"`
	} `json:"attachments"`
	// Clamd calls a ClamAV daemon through the "socket" grant.
	Clamd struct {
		// Mode: "off" (default), "also" (clamd and the built-in engine), or
		// "only" (clamd for signatures; the attachment policy still applies).
		Mode string `json:"mode"`
		// Timeout for one clamd exchange (default "20s"); keep it below the
		// filter's timeout.
		Timeout Duration `json:"timeout"`
		// OnError: clamd down, slow or failing: "tempfail" (default),
		// "continue" (rely on the built-in engine), or "reject".
		OnError string `json:"on_error"`
	} `json:"clamd"`
	// Header is the field added to every accepted message (default
	// "X-Virus-Scan"; "none" adds none).
	Header string `json:"header"`
	// ReloadEvery is how often signature files are checked for changes
	// (default "60s").
	ReloadEvery Duration `json:"reload_every"`
}

// Size is a byte count written as a number or as "10MiB".
type Size int64

func (s *Size) UnmarshalJSON(b []byte) error {
	var n int64
	if json.Unmarshal(b, &n) == nil {
		*s = Size(n)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("size: want a number or a string such as \"10MiB\"")
	}
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000}, {"B", 1}} {
		if v, ok := strings.CutSuffix(str, u.suf); ok {
			str, mult = strings.TrimSpace(v), u.m
			break
		}
	}
	n, err := strconv.ParseInt(str, 10, 64)
	if err != nil || n < 0 || n > 1<<40/mult {
		return fmt.Errorf("size %q: want a number with KiB, MiB or GiB", string(b))
	}
	*s = Size(n * mult)
	return nil
}

// Duration is written as "20s".
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"20s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("duration %q: %v", s, err)
	}
	*d = Duration(v)
	return nil
}

func oneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s %q: want one of %s", field, v, strings.Join(allowed, ", "))
}

// parseConfig decodes and validates the config, filling in defaults. An
// unknown key is an error, so that a misspelt setting is not ignored.
func parseConfig(raw []byte) (*Config, error) {
	c := &Config{}
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			return nil, fmt.Errorf("config: %v", err)
		}
	}
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.Action, "reject")
	def(&c.OnLimit, "detect")
	def(&c.Encrypted, "accept")
	a := &c.Attachments
	def(&a.Executable, "reject")
	def(&a.Script, "reject")
	def(&a.Macro, "allow")
	def(&a.Extension, "reject")
	def(&a.DoubleExtension, "reject")
	def(&a.Bidi, "reject")
	def(&c.Clamd.Mode, "off")
	def(&c.Clamd.OnError, "tempfail")
	def(&c.Header, "X-Virus-Scan")
	if c.Clamd.Timeout == 0 {
		c.Clamd.Timeout = Duration(20 * time.Second)
	}
	if c.ReloadEvery == 0 {
		c.ReloadEvery = Duration(60 * time.Second)
	}
	checks := []error{
		oneOf("action", c.Action, "reject", "quarantine", "strip"),
		oneOf("on_limit", c.OnLimit, "detect", "tempfail", "accept"),
		oneOf("encrypted", c.Encrypted, "accept", "detect"),
		oneOf("clamd.mode", c.Clamd.Mode, "off", "also", "only"),
		oneOf("clamd.on_error", c.Clamd.OnError, "tempfail", "continue", "reject"),
	}
	for name, v := range map[string]string{"executable": a.Executable, "script": a.Script, "macro": a.Macro,
		"extension": a.Extension, "double_extension": a.DoubleExtension, "bidi": a.Bidi} {
		checks = append(checks, oneOf("attachments."+name, v, "allow", "strip", "quarantine", "reject"))
	}
	for _, err := range checks {
		if err != nil {
			return nil, err
		}
	}
	if c.Header != "none" && !validFieldName(c.Header) {
		return nil, fmt.Errorf("header %q: not a header field name", c.Header)
	}
	for _, s := range c.Signatures {
		if !strings.HasSuffix(s, ".hdb") && !strings.HasSuffix(s, ".hsb") && !strings.HasSuffix(s, ".ndb") {
			return nil, fmt.Errorf("signatures: %q is not a .hdb, .hsb or .ndb file", s)
		}
	}
	return c, nil
}

func validFieldName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

func (c *Config) limits() engine.Limits {
	return engine.Limits{MaxDepth: c.Limits.MaxDepth, MaxFiles: c.Limits.MaxFiles,
		MaxFileSize: int64(c.Limits.MaxFileSize), MaxTotal: int64(c.Limits.MaxTotal)}
}

// categoryAction is the configured action for a policy category.
func (c *Config) categoryAction(cat string) string {
	a := &c.Attachments
	switch cat {
	case engine.CatExecutable:
		return a.Executable
	case engine.CatScript:
		return a.Script
	case engine.CatMacro:
		return a.Macro
	case engine.CatExtension:
		return a.Extension
	case engine.CatDoubleExtension:
		return a.DoubleExtension
	case engine.CatBidi:
		return a.Bidi
	}
	return "allow"
}
