package config

import (
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mail/sluice/plugin/builtin"
	"github.com/sluice-mail/sluice/sdk/dnsname"
	"github.com/sluice-mail/sluice/sdk/mailbox"
)

// content decodes body against schema, keeping its diagnostics (unknown
// attributes and blocks, missing required attributes).
func (d *decoder) content(body hcl.Body, schema *hcl.BodySchema) *hcl.BodyContent {
	c, diags := body.Content(schema)
	d.diags = append(d.diags, diags...)
	return c
}

// errors counts the errors so far; a block decoded cleanly when the count
// did not grow while decoding it.
func (d *decoder) errors() int { return len(d.diags.Errs()) }

func attrs(names ...string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		out[i] = hcl.AttributeSchema{Name: n}
	}
	return out
}

var logSchema = &hcl.BodySchema{Attributes: attrs("level", "format")}

func (d *decoder) log(b *hcl.Block, l *Log) {
	c := d.content(b.Body, logSchema)
	d.oneOf(c.Attributes["level"], &l.Level, "trace", "debug", "info", "warn", "error")
	d.oneOf(c.Attributes["format"], &l.Format, "text", "json")
}

var tlsSchema = &hcl.BodySchema{Attributes: attrs("cert", "key")}

func (d *decoder) tls(b *hcl.Block, t *TLS) {
	c := d.content(b.Body, tlsSchema)
	cert, key := c.Attributes["cert"], c.Attributes["key"]
	if d.nonEmpty(cert, &t.CertFile) {
		t.CertFile = d.path(t.CertFile)
	}
	if d.nonEmpty(key, &t.KeyFile) {
		t.KeyFile = d.path(t.KeyFile)
	}
	switch {
	case cert != nil && key == nil:
		d.errorf(cert.Range, "Missing key", "tls needs both cert and key, or neither for a generated self-signed certificate.")
	case cert == nil && key != nil:
		d.errorf(key.Range, "Missing cert", "tls needs both cert and key, or neither for a generated self-signed certificate.")
	}
}

var limitsSchema = &hcl.BodySchema{Attributes: attrs(
	"max_connections", "max_connections_per_ip", "read_timeout", "write_timeout",
	"max_line_length", "max_header_size", "max_message_size", "max_recipients", "shutdown_grace",
	"max_messages_per_ip_per_minute", "max_messages_per_user_per_minute", "data_timeout", "min_data_rate",
	"auth_failure_delay", "max_auth_failures", "max_auth_failures_per_ip_per_hour")}

// minLineLength is the longest text line a server must accept, CRLF included
// (RFC 5321 section 4.5.3.1.6).
const minLineLength = 1000

func (d *decoder) limits(b *hcl.Block, l *Limits) {
	c := d.content(b.Body, limitsSchema)
	a := c.Attributes
	d.positiveInt(a["max_connections"], &l.MaxConnections, math.MaxInt32)
	d.positiveInt(a["max_connections_per_ip"], &l.MaxConnectionsPerIP, math.MaxInt32)
	d.duration(a["read_timeout"], &l.ReadTimeout)
	d.duration(a["write_timeout"], &l.WriteTimeout)
	if d.positiveInt(a["max_line_length"], &l.MaxLineLength, math.MaxInt32) && l.MaxLineLength < minLineLength {
		d.errorf(a["max_line_length"].Expr.Range(), "Invalid value",
			"max_line_length must be at least %d: RFC 5321 section 4.5.3.1.6 requires accepting 1000-octet lines.", minLineLength)
	}
	d.size(a["max_header_size"], &l.MaxHeaderBytes)
	d.size(a["max_message_size"], &l.MaxMessageBytes)
	d.positiveInt(a["max_recipients"], &l.MaxRecipients, math.MaxInt32)
	d.duration(a["shutdown_grace"], &l.ShutdownGrace)
	d.positiveInt(a["max_messages_per_ip_per_minute"], &l.MessagesPerIPPerMinute, math.MaxInt32)
	d.positiveInt(a["max_messages_per_user_per_minute"], &l.MessagesPerUserPerMinute, math.MaxInt32)
	d.duration(a["data_timeout"], &l.DataTimeout)
	d.size(a["min_data_rate"], &l.MinDataRate)
	d.duration(a["auth_failure_delay"], &l.AuthFailureDelay)
	d.positiveInt(a["max_auth_failures"], &l.MaxAuthFailures, math.MaxInt32)
	d.positiveInt(a["max_auth_failures_per_ip_per_hour"], &l.MaxAuthFailuresPerIPPerHour, math.MaxInt32)
}

var queueSchema = &hcl.BodySchema{Attributes: attrs(
	"concurrency_per_destination", "retry_min", "retry_max", "give_up_after", "delay_warning",
	"max_deliveries", "max_messages", "min_free_disk")}

func (d *decoder) queue(b *hcl.Block, q *Queue) {
	c := d.content(b.Body, queueSchema)
	a := c.Attributes
	d.positiveInt(a["concurrency_per_destination"], &q.ConcurrencyPerDestination, math.MaxInt32)
	okMin := d.duration(a["retry_min"], &q.RetryMin)
	okMax := d.duration(a["retry_max"], &q.RetryMax)
	d.duration(a["give_up_after"], &q.GiveUpAfter)
	d.duration(a["delay_warning"], &q.DelayWarning)
	d.positiveInt(a["max_deliveries"], &q.MaxDeliveries, math.MaxInt32)
	d.positiveInt(a["max_messages"], &q.MaxMessages, math.MaxInt32)
	d.size(a["min_free_disk"], &q.MinFreeDisk)
	if (okMin || okMax) && q.RetryMin > q.RetryMax {
		r := b.DefRange
		if okMin {
			r = a["retry_min"].Expr.Range()
		}
		d.errorf(r, "Invalid retry bounds", "retry_min (%s) is longer than retry_max (%s).", q.RetryMin, q.RetryMax)
	}
}

// prefixes decodes trusted_networks: CIDR prefixes, or bare addresses that
// stand for a single host.
func (d *decoder) prefixes(a *hcl.Attribute) []netip.Prefix {
	list, ranges, ok := d.strList(a)
	if !ok {
		return nil
	}
	out := []netip.Prefix{} // explicitly empty: trust no one
	for i, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ip, err2 := netip.ParseAddr(s)
			if err2 != nil || ip.Zone() != "" {
				d.errorf(ranges[i], "Invalid network", "%s: %q is not a CIDR prefix such as 192.0.2.0/24 or 2001:db8::/32.", a.Name, s)
				continue
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

var listenerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "kind"}, {Name: "address", Required: true}, {Name: "starttls"}, {Name: "insecure_auth"}, {Name: "socket_mode"},
}}

var listenerKinds = []string{string(KindSMTP), string(KindSubmission), string(KindSMTPS), string(KindLMTP)}

// listener decodes a listener block and returns the range of its address
// for the duplicate-address check.
func (d *decoder) listener(b *hcl.Block) (Listener, hcl.Range, bool) {
	start := d.errors()
	l := Listener{Name: b.Labels[0]}
	if l.Name == "" {
		d.errorf(b.LabelRanges[0], "Invalid listener name", "A listener name must not be empty.")
	}
	c := d.content(b.Body, listenerSchema)
	if a := c.Attributes["kind"]; a != nil {
		var k string
		if d.oneOf(a, &k, listenerKinds...) {
			l.Kind = ListenerKind(k)
		}
	} else {
		for _, k := range listenerKinds {
			if l.Name == k {
				l.Kind = ListenerKind(k)
			}
		}
		if l.Kind == "" {
			d.errorf(b.DefRange, "Missing listener kind",
				"Listener %q needs kind = one of %s (it defaults to the name only when the name is a kind).",
				l.Name, strings.Join(listenerKinds, ", "))
		}
	}
	addr := b.DefRange
	if a := c.Attributes["address"]; a != nil {
		addr = a.Expr.Range()
		l.Network, l.Address, _ = d.address(a, true)
	}
	// STARTTLS (RFC 3207) is offered wherever TLS is not implicit.
	l.STARTTLS = l.Kind != KindSMTPS
	if a := c.Attributes["starttls"]; a != nil && d.boolean(a, &l.STARTTLS) {
		switch {
		case l.Kind == KindSMTPS && l.STARTTLS:
			d.errorf(a.Expr.Range(), "Invalid value", "starttls does not apply to an smtps listener, whose TLS is implicit (RFC 8314).")
		case l.Kind == KindSubmission && !l.STARTTLS:
			d.warnf(a.Expr.Range(), "Submission without STARTTLS",
				"AUTH is only offered over TLS, so clients of listener %q can never authenticate.", l.Name)
		}
	}
	if a := c.Attributes["insecure_auth"]; a != nil {
		d.boolean(a, &l.InsecureAuth)
	}
	if l.Network == "unix" {
		l.SocketMode = 0o660
	}
	if a := c.Attributes["socket_mode"]; a != nil {
		var mode string
		if d.str(a, &mode) {
			m, err := strconv.ParseUint(mode, 8, 32)
			switch {
			case l.Network != "unix":
				d.errorf(a.Expr.Range(), "Invalid setting", "socket_mode applies to unix-socket listeners only.")
			case err != nil || m > 0o777 || !strings.HasPrefix(mode, "0"):
				d.errorf(a.Expr.Range(), "Invalid socket mode", "socket_mode %q: want octal permission bits as a string, such as \"0660\".", mode)
			default:
				l.SocketMode = os.FileMode(m)
			}
		}
	}
	return l, addr, d.errors() == start
}

var userSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "password_hash", Required: true}, {Name: "addresses"}}}

func (d *decoder) user(b *hcl.Block) (User, bool) {
	start := d.errors()
	u := User{Name: b.Labels[0]}
	if u.Name == "" || strings.IndexFunc(u.Name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		d.errorf(b.LabelRanges[0], "Invalid user name", "User name %q must be non-empty, without spaces or control characters.", u.Name)
	}
	c := d.content(b.Body, userSchema)
	if a := c.Attributes["password_hash"]; d.nonEmpty(a, &u.PasswordHash) {
		d.inlineSecret(a)
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			d.errorf(a.Expr.Range(), "Invalid password hash",
				"password_hash is not a bcrypt hash ($2a$, $2b$ or $2y$): %v. Make one with `htpasswd -nbBC 10 user password`.", err)
		}
	}
	if a := c.Attributes["addresses"]; a != nil {
		u.Addresses = d.senderAddresses(a)
	}
	return u, d.errors() == start
}

// senderAddresses decodes a user's addresses: each an address, "@domain"
// or "*", none twice; the domains as dnsname.ASCII writes them, so that
// MaySendAs compares like with like. An empty list is kept (not nil): the
// user may then send only with the null sender.
func (d *decoder) senderAddresses(a *hcl.Attribute) []string {
	list, ranges, ok := d.strList(a)
	if !ok {
		return nil
	}
	out := []string{}
	seen := map[string]bool{}
	for i, s := range list {
		var err error
		switch {
		case s == "*":
		case strings.HasPrefix(s, "@"):
			err = mailbox.CheckDomain(s[1:])
			s = "@" + dnsname.ASCII(s[1:])
		default:
			err = mailbox.Check(s)
			if err == nil {
				at := strings.LastIndexByte(s, '@')
				s = s[:at+1] + dnsname.ASCII(s[at+1:])
			}
		}
		switch {
		case err != nil:
			d.errorf(ranges[i], "Invalid sender address", "addresses: %q is not an address, \"@domain\" or \"*\": %v.", list[i], err)
		case seen[strings.ToLower(s)]:
			d.errorf(ranges[i], "Duplicate value", "addresses: %q is listed twice.", list[i])
		default:
			seen[strings.ToLower(s)] = true
			out = append(out, s)
		}
	}
	return out
}

var filterSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "files"}, {Name: "socket_endpoint"}, {Name: "signing_keys"},
	{Name: "wasm"}, {Name: "builtin"}, {Name: "stages"},
	{Name: "timeout"}, {Name: "memory"}, {Name: "on_error"},
	{Name: "grants"}, {Name: "http_endpoint"}, {Name: "resolver"}, {Name: "config"},
	{Name: "dns_zones"}, {Name: "blob_quota"}, {Name: "blob_message_quota"},
}}

// FilterStages are the points of an SMTP transaction a filter can hook, in order;
// "delivered" runs after the message is queued.
var FilterStages = []string{"connect", "helo", "auth", "mail", "rcpt", "data", "delivered"}

// FilterGrants are the host capabilities an operator can give a filter.
var FilterGrants = []string{"dns", "http", "files", "socket", "blob", "sign", "relay"}

// maxWasmMemory is the most a 32-bit Wasm memory can address: 65536 pages of 64KiB.
const maxWasmMemory = 4 << 30

func (d *decoder) filter(b *hcl.Block) (Filter, bool) {
	start := d.errors()
	f := Filter{
		Name:        b.Labels[0],
		Timeout:     2 * time.Second,
		MemoryBytes: 64 << 20,
		OnError:     "tempfail",
		ConfigJSON:  []byte("{}"),
	}
	if !validFilterName(f.Name) {
		d.errorf(b.LabelRanges[0], "Invalid filter name", "Filter name %q must be letters, digits, '.', '-' or '_'.", f.Name)
	}
	c := d.content(b.Body, filterSchema)
	a := c.Attributes
	d.filterModule(b, a, &f)
	if list, ok := d.set(a["stages"], FilterStages...); ok {
		if len(list) == 0 {
			d.errorf(a["stages"].Expr.Range(), "Invalid value", "stages must name at least one of %s; leave it out to run every stage the plugin declares.", strings.Join(FilterStages, ", "))
		}
		f.Stages = list
	}
	d.duration(a["timeout"], &f.Timeout)
	if d.size(a["memory"], &f.MemoryBytes) && f.MemoryBytes > maxWasmMemory {
		d.errorf(a["memory"].Expr.Range(), "Invalid size", "memory must be at most 4GiB, the limit of a 32-bit Wasm memory.")
	}
	d.oneOf(a["on_error"], &f.OnError, "tempfail", "continue", "reject")
	if list, ok := d.set(a["grants"], FilterGrants...); ok {
		f.Grants = list
	}
	d.filterFiles(a, &f)
	d.filterSigningKeys(a, &f)
	if ep := a["http_endpoint"]; d.str(ep, &f.HTTPEndpoint) && f.HTTPEndpoint != "" {
		u, err := url.Parse(f.HTTPEndpoint)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			d.errorf(ep.Expr.Range(), "Invalid URL", "http_endpoint %q must be an absolute http:// or https:// URL.", f.HTTPEndpoint)
		case !contains(f.Grants, "http"):
			d.errorf(ep.Expr.Range(), "Endpoint without grant", "http_endpoint is set but grants does not include \"http\".")
		}
	} else if ga := a["grants"]; ga != nil && contains(f.Grants, "http") {
		d.errorf(ga.Expr.Range(), "Missing http_endpoint", "The \"http\" grant needs http_endpoint, the one URL the filter may call.")
	}
	if ra := a["resolver"]; d.nonEmpty(ra, &f.Resolver) {
		f.Resolver = d.resolver(ra, f.Resolver)
		if !contains(f.Grants, "dns") {
			d.errorf(ra.Expr.Range(), "Resolver without grant", "resolver is set but grants does not include \"dns\".")
		}
	}
	d.filterDNSZones(a, &f)
	d.filterBlobQuotas(a, &f)
	if ca := a["config"]; ca != nil {
		if v, ok := d.value(ca, cty.DynamicPseudoType); ok {
			if !v.Type().IsObjectType() && !v.Type().IsMapType() {
				d.errorf(ca.Expr.Range(), "Incorrect attribute value type", "config must be an object such as { threshold = 5 }, not %s.", v.Type().FriendlyName())
			} else if js, err := ctyjson.Marshal(v, v.Type()); err != nil {
				d.errorf(ca.Expr.Range(), "Invalid value", "config cannot be encoded as JSON: %v.", err)
			} else {
				f.ConfigJSON = js
			}
		}
	}
	return f, d.errors() == start
}

// filterModule decodes the filter's module: exactly one of wasm (a file)
// and builtin (a filter that ships with sluice, plugin/builtin).
func (d *decoder) filterModule(b *hcl.Block, a hcl.Attributes, f *Filter) {
	wa, ba := a["wasm"], a["builtin"]
	switch {
	case wa == nil && ba == nil:
		d.errorf(b.DefRange, "Missing filter module",
			"A filter needs either wasm = \"FILE.wasm\" or builtin = \"NAME\" (one of %s).", strings.Join(builtin.Names, ", "))
	case wa != nil && ba != nil:
		d.errorf(ba.NameRange, "Conflicting filter module",
			"wasm and builtin are both set; a filter runs one module: keep one of them.")
	case wa != nil:
		if d.nonEmpty(wa, &f.Wasm) {
			f.Wasm = d.path(f.Wasm)
		}
	default:
		var name string
		if d.nonEmpty(ba, &name) {
			if !builtin.Known(name) {
				d.errorf(ba.Expr.Range(), "Unknown built-in filter",
					"builtin %q is not one of %s; a plugin of your own is named with wasm = \"FILE.wasm\".", name, strings.Join(builtin.Names, ", "))
			} else {
				f.Builtin = name
			}
		}
	}
}

func validFilterName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var domainSchema = &hcl.BodySchema{
	Attributes: attrs("max_message_size", "max_recipients", "filters", "retry_min", "retry_max", "give_up_after"),
	Blocks:     []hcl.BlockHeaderSchema{{Type: "deliver", LabelNames: []string{"method"}}},
}

// domain decodes a domain block; filters holds every declared filter name.
func (d *decoder) domain(b *hcl.Block, c *Config, filters map[string]bool) (Domain, bool) {
	start := d.errors()
	dom := Domain{Name: b.Labels[0]}
	switch {
	case dom.Name == "*":
	case dom.Name != strings.ToLower(dom.Name) && isHostname(strings.ToLower(dom.Name)):
		d.errorf(b.LabelRanges[0], "Domain name not lower-case", "Write domain %q.", strings.ToLower(dom.Name))
	case !isHostname(dom.Name):
		d.errorf(b.LabelRanges[0], "Invalid domain name",
			"%q is not a host name (letters, digits and hyphens in dot-separated labels; IDNs as xn-- A-labels) nor \"*\" for the catch-all.", dom.Name)
	}
	content := d.content(b.Body, domainSchema)
	a := content.Attributes
	if d.size(a["max_message_size"], &dom.MaxMessageBytes) && dom.MaxMessageBytes > c.Limits.MaxMessageBytes {
		d.warnf(a["max_message_size"].Expr.Range(), "Domain limit above global limit",
			"max_message_size is larger than limits.max_message_size (%d bytes), which is what SIZE advertises (RFC 1870).", c.Limits.MaxMessageBytes)
	}
	d.positiveInt(a["max_recipients"], &dom.MaxRecipients, math.MaxInt32)
	okMin := d.duration(a["retry_min"], &dom.RetryMin)
	okMax := d.duration(a["retry_max"], &dom.RetryMax)
	d.duration(a["give_up_after"], &dom.GiveUpAfter)
	if min, max, _ := c.Schedule(&dom); (okMin || okMax) && min > max {
		r := a["retry_max"]
		if okMin {
			r = a["retry_min"]
		}
		d.errorf(r.Expr.Range(), "Invalid retry bounds",
			"retry_min (%s) is longer than retry_max (%s); a domain's unset bound is the queue block's.", min, max)
	}
	if fa := a["filters"]; fa != nil {
		list, ranges, _ := d.strList(fa)
		seen := map[string]bool{}
		for i, name := range list {
			switch {
			case !filters[name]:
				d.errorf(ranges[i], "Unknown filter", "No filter block is named %q.", name)
			case seen[name]:
				d.errorf(ranges[i], "Duplicate value", "filters: %q is listed twice.", name)
			}
			seen[name] = true
		}
		dom.Filters = list
	}
	switch n := len(content.Blocks); {
	case n == 0:
		d.errorf(b.DefRange, "Missing deliver block", "Domain %q needs one deliver block: maildir, lmtp, smtp or mx.", dom.Name)
	default:
		for _, extra := range content.Blocks[1:] {
			d.errorf(extra.DefRange, "Duplicate deliver block", "A domain has exactly one deliver block; the first is at %s.", pos(content.Blocks[0].DefRange))
		}
		dom.Deliver = d.deliver(content.Blocks[0], c.DataDir)
	}
	return dom, d.errors() == start
}

var deliverSchema = &hcl.BodySchema{Attributes: attrs(
	"path", "address", "tls", "auth_user", "auth_password", "auth_password_file", "resolver", "port")}

// deliverAttrs lists, per method, the attributes it takes.
var deliverAttrs = map[DeliveryMethod][]string{
	DeliverMaildir: {"path"},
	DeliverLMTP:    {"address"},
	DeliverSMTP:    {"address", "tls", "auth_user", "auth_password", "auth_password_file"},
	DeliverMX:      {"tls", "resolver", "port"},
}

var tlsModes = []string{string(TLSNone), string(TLSOpportunistic), string(TLSRequired), string(TLSVerify)}

// defaultMaildirPath keeps each domain's users apart under the data dir.
const defaultMaildirPath = "{data_dir}/maildir/{domain}/{local}"

func (d *decoder) deliver(b *hcl.Block, dataDir string) Delivery {
	dl := Delivery{Method: DeliveryMethod(b.Labels[0])}
	c := d.content(b.Body, deliverSchema)
	a := c.Attributes
	allowed, known := deliverAttrs[dl.Method]
	if !known {
		d.errorf(b.LabelRanges[0], "Unknown delivery method", "deliver %q is not one of maildir, lmtp, smtp, mx.", dl.Method)
		return dl
	}
	var names []string
	for name := range a {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return a[names[i]].Range.Start.Byte < a[names[j]].Range.Start.Byte })
	for _, name := range names {
		if attr := a[name]; !contains(allowed, name) {
			d.errorf(attr.NameRange, "Argument not used by "+string(dl.Method),
				"deliver %q takes only %s.", dl.Method, strings.Join(allowed, ", "))
			delete(a, attr.Name)
		}
	}
	switch dl.Method {
	case DeliverMaildir:
		dl.Path = defaultMaildirPath
		if d.nonEmpty(a["path"], &dl.Path) {
			d.placeholders(a["path"], dl.Path)
		}
		if !strings.HasPrefix(dl.Path, "{data_dir}") {
			dl.Path = d.path(dl.Path)
		}
		dl.Path = strings.ReplaceAll(dl.Path, "{data_dir}", dataDir)
	case DeliverLMTP, DeliverSMTP:
		if a["address"] == nil {
			d.errorf(b.DefRange, "Missing address", "deliver %q needs address = \"host:port\" or \"unix:/path\".", dl.Method)
		} else {
			dl.Network, dl.Address, _ = d.address(a["address"], false)
		}
	}
	if dl.Method == DeliverSMTP || dl.Method == DeliverMX {
		dl.TLS = TLSOpportunistic
		var mode string
		if d.oneOf(a["tls"], &mode, tlsModes...) {
			dl.TLS = TLSMode(mode)
		}
	}
	if dl.Method == DeliverSMTP {
		user, pass, passFile := a["auth_user"], a["auth_password"], a["auth_password_file"]
		d.nonEmpty(user, &dl.AuthUser)
		switch {
		case pass != nil && passFile != nil:
			d.errorf(passFile.NameRange, "Conflicting secret",
				"auth_password and auth_password_file are both set; keep auth_password_file, which keeps the password out of this file.")
		case pass != nil:
			d.nonEmpty(pass, &dl.AuthPassword)
			d.inlineSecret(pass)
		case passFile != nil:
			dl.AuthPasswordFile, dl.AuthPassword, _ = d.secretFile(passFile)
		}
		switch {
		case user != nil && pass == nil && passFile == nil:
			d.errorf(user.Range, "Missing auth_password", "auth_user needs auth_password_file (or auth_password); they go together.")
		case user == nil && pass != nil:
			d.errorf(pass.Range, "Missing auth_user", "auth_user and auth_password go together.")
		case user == nil && passFile != nil:
			d.errorf(passFile.Range, "Missing auth_user", "auth_user and auth_password_file go together.")
		}
	}
	if dl.Method == DeliverMX {
		dl.Port = 25
		d.positiveInt(a["port"], &dl.Port, math.MaxUint16)
		if ra := a["resolver"]; d.nonEmpty(ra, &dl.Resolver) {
			dl.Resolver = d.resolver(ra, dl.Resolver)
		}
	}
	return dl
}

// placeholders rejects {names} in a maildir path template other than the
// ones deliveries replace.
func (d *decoder) placeholders(a *hcl.Attribute, tmpl string) {
	for rest := tmpl; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			d.errorf(a.Expr.Range(), "Invalid path template", "path has an unclosed '{'.")
			return
		}
		switch name := rest[i+1 : i+j]; name {
		case "data_dir", "domain", "local":
		default:
			d.errorf(a.Expr.Range(), "Invalid path template", "path: unknown placeholder {%s}; use {data_dir}, {domain} or {local}.", name)
		}
		rest = rest[i+j+1:]
	}
}

// resolver accepts "host:port" or a bare IP address, which means port 53.
func (d *decoder) resolver(a *hcl.Attribute, s string) string {
	if ip, err := netip.ParseAddr(s); err == nil {
		return net.JoinHostPort(ip.String(), "53")
	}
	host, port, err := net.SplitHostPort(s)
	if err == nil && host != "" && validHost(host) {
		if p, perr := strconv.Atoi(port); perr == nil && p > 0 && p <= math.MaxUint16 {
			return s
		}
	}
	d.errorf(a.Expr.Range(), "Invalid address", "resolver %q: want an IP address or host:port, such as 127.0.0.1:53.", s)
	return ""
}
