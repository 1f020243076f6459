package config

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// DefaultSource is the Source of the configuration returned by Default.
const DefaultSource = "<embedded default>"

//go:embed default.hcl
var defaultHCL []byte

// Load reads, parses and validates the configuration file at path. Relative
// paths written in the file are resolved against the file's directory, so a
// configuration means the same whatever directory sluice is started from.
//
// The returned Config is nil when diags has errors; warnings may accompany a
// valid Config. Diagnostics name the file as path was given.
func Load(path string) (*Config, hcl.Diagnostics) {
	return load(path, false)
}

func load(path string, noSecrets bool) (*Config, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration",
			Detail:   err.Error(),
		}}
	}
	return parse(src, path, filepath.Dir(path), noSecrets, path)
}

// Default returns the embedded default configuration (default.hcl): a relay
// for "localhost" on loopback ports that needs no root and no other file.
// Its relative paths stay relative to the working directory.
func Default() *Config {
	c, diags := Parse(defaultHCL, DefaultSource, "")
	if diags.HasErrors() {
		// default.hcl is compiled in and tested; this is a build defect.
		panic("config: embedded default.hcl is invalid: " + diags.Error())
	}
	return c
}

// Parse decodes and validates configuration source. filename names it in
// diagnostics and becomes Config.Source; relative paths in it are resolved
// against baseDir ("" leaves them relative to the working directory).
func Parse(src []byte, filename, baseDir string) (*Config, hcl.Diagnostics) {
	return parse(src, filename, baseDir, false, "")
}

// parse is Parse; noSecrets is LoadPublic's, and file, when set, is the
// file src was read from, whose mode decides whether secrets written in
// it deserve a warning.
func parse(src []byte, filename, baseDir string, noSecrets bool, file string) (*Config, hcl.Diagnostics) {
	f, diags := hclparse.NewParser().ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, diags
	}
	d := &decoder{diags: diags, baseDir: baseDir, noSecrets: noSecrets}
	c := d.root(f.Body)
	c.Source = filename
	if file != "" {
		d.warnInlineSecrets(file)
	}
	sortDiagnostics(d.diags)
	if d.diags.HasErrors() {
		return nil, d.diags
	}
	return c, d.diags
}

var rootSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "hostname"}, {Name: "data_dir"}, {Name: "trusted_networks"},
		{Name: "pprof_listen"},
		{Name: "metrics_listen"}, {Name: "users_file"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "log"}, {Type: "tls"}, {Type: "limits"}, {Type: "queue"}, {Type: "links"}, {Type: "sendmail"},
		{Type: "listener", LabelNames: []string{"name"}},
		{Type: "user", LabelNames: []string{"name"}},
		{Type: "filter", LabelNames: []string{"name"}},
		{Type: "domain", LabelNames: []string{"name"}},
	},
}

// defaults returns the values used for every setting a file leaves out.
func defaults() *Config {
	return &Config{
		DataDir: "./sluice-data",
		Log:     Log{Level: "info", Format: "text"},
		Limits: Limits{
			MaxConnections:      1000,
			MaxConnectionsPerIP: 50,
			ReadTimeout:         5 * time.Minute,
			WriteTimeout:        5 * time.Minute,
			MaxLineLength:       4096,
			MaxHeaderBytes:      1 << 20,
			MaxMessageBytes:     35 << 20,
			MaxRecipients:       100,
			ShutdownGrace:       30 * time.Second,
			// Twice read_timeout for the whole message, and more for a
			// client that keeps Postfix's smtpd_min_data_rate default.
			DataTimeout: 10 * time.Minute,
			MinDataRate: 500,
			// Postfix's smtpd_error_sleep_time; fail2ban's default
			// (5 in 10 minutes) is about as strict per address.
			AuthFailureDelay:            time.Second,
			MaxAuthFailures:             3,
			MaxAuthFailuresPerIPPerHour: 20,
		},
		Queue: Queue{
			ConcurrencyPerDestination: 10,
			RetryMin:                  5 * time.Minute,
			RetryMax:                  4 * time.Hour,
			GiveUpAfter:               120 * time.Hour,
			DelayWarning:              4 * time.Hour,
			MaxDeliveries:             100,
			MinFreeDisk:               100 << 20,
		},
		TrustedNetworks: mustPrefixes("127.0.0.0/8", "::1/128"),
	}
}

func (d *decoder) root(body hcl.Body) *Config {
	c := defaults()
	content, diags := body.Content(rootSchema)
	d.diags = append(d.diags, diags...)

	if a := content.Attributes["hostname"]; d.nonEmpty(a, &c.Hostname) && !isHostname(strings.ToLower(c.Hostname)) {
		d.errorf(a.Expr.Range(), "Invalid hostname", "hostname %q is not a valid host name.", c.Hostname)
	}
	if c.Hostname == "" {
		c.Hostname = systemHostname()
	}
	d.nonEmpty(content.Attributes["data_dir"], &c.DataDir)
	c.DataDir = d.path(c.DataDir)
	if a := content.Attributes["trusted_networks"]; a != nil {
		c.TrustedNetworks = d.prefixes(a)
	}
	if a := content.Attributes["pprof_listen"]; a != nil {
		c.PprofListen = d.pprofListen(a)
	}
	if a := content.Attributes["metrics_listen"]; a != nil {
		c.MetricsListen = d.metricsListen(a)
	}

	byType := map[string][]*hcl.Block{}
	for _, b := range content.Blocks {
		byType[b.Type] = append(byType[b.Type], b)
	}
	if b := d.single(byType["log"]); b != nil {
		d.log(b, &c.Log)
	}
	if b := d.single(byType["tls"]); b != nil {
		d.tls(b, &c.TLS)
	}
	if b := d.single(byType["limits"]); b != nil {
		d.limits(b, &c.Limits)
	}
	if b := d.single(byType["queue"]); b != nil {
		d.queue(b, &c.Queue)
	}
	if b := d.single(byType["links"]); b != nil {
		c.Links = d.links(b, c.DataDir)
	}

	addrs := map[string]hcl.Range{}
	for _, b := range d.unique(byType["listener"]) {
		l, addr, ok := d.listener(b)
		if !ok {
			continue
		}
		c.Listeners = append(c.Listeners, l)
		key := l.Network + " " + l.Address
		if prev, dup := addrs[key]; dup {
			d.errorf(addr, "Duplicate listener address", "%s is already used by the listener at %s.", l.Address, pos(prev))
		} else if !strings.HasSuffix(key, ":0") { // port 0: each listener gets its own free port
			addrs[key] = addr
		}
	}
	if b := d.single(byType["sendmail"]); b != nil {
		c.Sendmail = d.sendmail(b, c)
	}
	for _, b := range d.unique(byType["user"]) {
		if u, ok := d.user(b); ok {
			c.Users = append(c.Users, u)
		}
	}
	if a := content.Attributes["users_file"]; a != nil {
		d.usersFile(a, c, userLabels(byType["user"]))
	}
	// Domains may name any filter block, even one with errors of its own,
	// so that a broken filter is reported once and not again per domain.
	filters := map[string]bool{}
	for _, b := range d.unique(byType["filter"]) {
		filters[b.Labels[0]] = true
		if f, ok := d.filter(b); ok {
			if c.Links == nil && contains(f.Grants, "blob") {
				d.errorf(b.DefRange, "Blob grant without links", "Filter %q is granted \"blob\" but there is no links block to store and serve its objects.", f.Name)
			}
			c.Filters = append(c.Filters, f)
		}
	}
	for _, b := range d.unique(byType["domain"]) {
		if dom, ok := d.domain(b, c, filters); ok {
			c.Domains = append(c.Domains, dom)
		}
	}

	if len(c.Listeners) == 0 && len(byType["listener"]) == 0 {
		d.errorf(body.MissingItemRange(), "No listener", "Without a listener block sluice cannot receive mail.")
	}
	if len(byType["domain"]) == 0 {
		d.errorf(body.MissingItemRange(), "No domain", "Without a domain block sluice refuses every recipient.")
	}
	return c
}

// single returns the only block of a kind that may appear once, reporting
// any repetition at the repeated block.
func (d *decoder) single(blocks []*hcl.Block) *hcl.Block {
	if len(blocks) == 0 {
		return nil
	}
	for _, b := range blocks[1:] {
		d.errorf(b.DefRange, "Duplicate "+b.Type+" block",
			"Only one %s block is allowed; the first is at %s.", b.Type, pos(blocks[0].DefRange))
	}
	return blocks[0]
}

// unique returns the labelled blocks whose label was not used by an earlier
// block of the same type, and reports the others.
func (d *decoder) unique(blocks []*hcl.Block) []*hcl.Block {
	seen := map[string]hcl.Range{}
	var out []*hcl.Block
	for _, b := range blocks {
		if prev, dup := seen[b.Labels[0]]; dup {
			d.errorf(b.LabelRanges[0], "Duplicate "+b.Type+" name", "%s %q is already defined at %s.",
				b.Type, b.Labels[0], pos(prev))
			continue
		}
		seen[b.Labels[0]] = b.LabelRanges[0]
		out = append(out, b)
	}
	return out
}

func systemHostname() string {
	h, err := os.Hostname()
	if err != nil || !isHostname(strings.ToLower(h)) {
		return DefaultHostname
	}
	return h
}

// pos names the start of r the way diagnostics do: file:line:column.
func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// sortDiagnostics orders diagnostics by position so that check-config reads
// top to bottom; those without a position come first.
func sortDiagnostics(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}
