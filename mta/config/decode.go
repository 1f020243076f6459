package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/sluice-mail/sluice/internal/bytesize"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"
)

// decoder turns attributes into Go values, collecting every problem as a
// diagnostic whose Subject is the offending value so that check-config can
// report all mistakes of a file at once.
type decoder struct {
	diags   hcl.Diagnostics
	baseDir string // "" keeps relative paths relative to the working directory
	// noSecrets leaves the files and variables that hold secrets unread
	// (LoadPublic).
	noSecrets bool
	// inline are the attributes that hold a secret in the file itself.
	inline []*hcl.Attribute
}

func (d *decoder) errorf(subject hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

func (d *decoder) warnf(subject hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

// value evaluates a (without variables or functions: the file is plain data)
// and converts it to ty. It reports false, with a diagnostic, on failure.
func (d *decoder) value(a *hcl.Attribute, ty cty.Type) (cty.Value, bool) {
	v, diags := a.Expr.Value(nil)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() {
		d.errorf(a.Expr.Range(), "Invalid value", "%s must not be null.", a.Name)
		return cty.NilVal, false
	}
	if ty == cty.DynamicPseudoType {
		return v, true
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		d.errorf(a.Expr.Range(), "Incorrect attribute value type", "%s: %s is required, not %s.",
			a.Name, ty.FriendlyName(), v.Type().FriendlyName())
		return cty.NilVal, false
	}
	// A list may hold null elements even after conversion.
	if !cv.IsWhollyKnown() || (ty.IsListType() && hasNull(cv)) {
		d.errorf(a.Expr.Range(), "Invalid value", "%s must not contain null.", a.Name)
		return cty.NilVal, false
	}
	return cv, true
}

func hasNull(list cty.Value) bool {
	for it := list.ElementIterator(); it.Next(); {
		if _, e := it.Element(); e.IsNull() {
			return true
		}
	}
	return false
}

// str decodes a string attribute into *dst; a nil attribute leaves *dst alone.
func (d *decoder) str(a *hcl.Attribute, dst *string) bool {
	if a == nil {
		return false
	}
	v, ok := d.value(a, cty.String)
	if !ok {
		return false
	}
	*dst = v.AsString()
	return true
}

// nonEmpty is str for attributes where "" cannot mean anything.
func (d *decoder) nonEmpty(a *hcl.Attribute, dst *string) bool {
	var s string
	if !d.str(a, &s) {
		return false
	}
	if s == "" {
		d.errorf(a.Expr.Range(), "Invalid value", "%s must not be empty.", a.Name)
		return false
	}
	*dst = s
	return true
}

func (d *decoder) boolean(a *hcl.Attribute, dst *bool) bool {
	if a == nil {
		return false
	}
	v, ok := d.value(a, cty.Bool)
	if !ok {
		return false
	}
	*dst = v.True()
	return true
}

// positiveInt decodes a whole number in [1, max].
func (d *decoder) positiveInt(a *hcl.Attribute, dst *int, max int) bool {
	if a == nil {
		return false
	}
	v, ok := d.value(a, cty.Number)
	if !ok {
		return false
	}
	var n int
	if err := gocty.FromCtyValue(v, &n); err != nil || n < 1 || n > max {
		d.errorf(a.Expr.Range(), "Invalid value", "%s must be a whole number from 1 to %d.", a.Name, max)
		return false
	}
	*dst = n
	return true
}

// oneOf decodes a string that must be one of allowed.
func (d *decoder) oneOf(a *hcl.Attribute, dst *string, allowed ...string) bool {
	var s string
	if !d.str(a, &s) {
		return false
	}
	for _, ok := range allowed {
		if s == ok {
			*dst = s
			return true
		}
	}
	d.errorf(a.Expr.Range(), "Invalid value", "%s %q is not one of %s.", a.Name, s, strings.Join(allowed, ", "))
	return false
}

// duration decodes a positive Go duration such as "30s" or "4h".
func (d *decoder) duration(a *hcl.Attribute, dst *time.Duration) bool {
	var s string
	if !d.str(a, &s) {
		return false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.errorf(a.Expr.Range(), "Invalid duration", "%s %q: want a number with a unit such as 30s, 5m or 4h.", a.Name, s)
		return false
	}
	if v <= 0 {
		d.errorf(a.Expr.Range(), "Invalid duration", "%s must be positive.", a.Name)
		return false
	}
	*dst = v
	return true
}

// size decodes a positive byte count written as a string ("35MiB") or a number.
func (d *decoder) size(a *hcl.Attribute, dst *int64) bool {
	var s string
	if !d.str(a, &s) { // numbers convert to strings
		return false
	}
	v, err := bytesize.Parse(s)
	if err != nil {
		d.errorf(a.Expr.Range(), "Invalid size", "%s: %v.", a.Name, err)
		return false
	}
	if v <= 0 {
		d.errorf(a.Expr.Range(), "Invalid size", "%s must be positive.", a.Name)
		return false
	}
	*dst = v
	return true
}

// strList decodes a list of strings and returns, for each element, the range
// to blame for it (the element itself when written as a literal list).
func (d *decoder) strList(a *hcl.Attribute) ([]string, []hcl.Range, bool) {
	if a == nil {
		return nil, nil, false
	}
	v, ok := d.value(a, cty.List(cty.String))
	if !ok {
		return nil, nil, false
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		out = append(out, e.AsString())
	}
	ranges := make([]hcl.Range, len(out))
	exprs, diags := hcl.ExprList(a.Expr)
	for i := range ranges {
		if !diags.HasErrors() && len(exprs) == len(out) {
			ranges[i] = exprs[i].Range()
		} else {
			ranges[i] = a.Expr.Range()
		}
	}
	return out, ranges, true
}

// set decodes a list of strings, each one of allowed and none twice.
func (d *decoder) set(a *hcl.Attribute, allowed ...string) ([]string, bool) {
	list, ranges, ok := d.strList(a)
	if !ok {
		return nil, false
	}
	seen := map[string]bool{}
	for i, s := range list {
		known := false
		for _, k := range allowed {
			known = known || s == k
		}
		switch {
		case !known:
			d.errorf(ranges[i], "Invalid value", "%s: %q is not one of %s.", a.Name, s, strings.Join(allowed, ", "))
			ok = false
		case seen[s]:
			d.errorf(ranges[i], "Duplicate value", "%s: %q is listed twice.", a.Name, s)
			ok = false
		}
		seen[s] = true
	}
	return list, ok
}

// path resolves a file path written in the config against its directory.
func (d *decoder) path(p string) string {
	if d.baseDir == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(d.baseDir, p)
}

// address decodes a socket address attribute; see parseAddress.
func (d *decoder) address(a *hcl.Attribute, listener bool) (network, addr string, ok bool) {
	var s string
	if !d.nonEmpty(a, &s) {
		return "", "", false
	}
	network, addr, err := parseAddress(s, listener)
	if err != nil {
		d.errorf(a.Expr.Range(), "Invalid address", "%s %q: %v; want host:port (IPv6 as [::1]:port) or unix:/path/to/socket.", a.Name, s, err)
		return "", "", false
	}
	if network == "unix" {
		addr = d.path(addr)
	}
	return network, addr, true
}

// parseAddress splits "host:port" (TCP) or "unix:/path" into a network and
// an address for net.Dial or net.Listen. A listener may leave the host empty
// (all interfaces) and use port 0 (any free port, for tests); a delivery
// target needs both.
func parseAddress(s string, listener bool) (network, addr string, err error) {
	if p, isUnix := strings.CutPrefix(s, "unix:"); isUnix {
		if p == "" {
			return "", "", errors.New(`no socket path after "unix:"`)
		}
		return "unix", p, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", "", errors.New("not host:port")
	}
	minPort := 1
	if listener {
		minPort = 0
	}
	switch n, perr := strconv.Atoi(port); {
	case host == "" && !listener:
		return "", "", errors.New("no host")
	case !validHost(host):
		return "", "", fmt.Errorf("%q is neither an IP address nor a host name", host)
	case perr != nil || n < minPort || n > math.MaxUint16:
		return "", "", fmt.Errorf("port must be a number from %d to 65535", minPort)
	}
	return "tcp", s, nil
}

// validHost accepts "" (all interfaces), an IP address or a host name.
func validHost(h string) bool {
	if h == "" {
		return true
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return isHostname(strings.ToLower(h))
}

// isHostname reports whether s is a lower-case host name in the LDH syntax of
// RFC 1123 section 2.1 (internationalized names must be in A-label form,
// RFC 5890): dot-separated labels of 1 to 63 letters, digits and hyphens,
// no hyphen at either end, at most 253 characters, no trailing dot.
func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	// An all-numeric name would be mistaken for an IPv4 address.
	_, err := netip.ParseAddr(s)
	return err != nil
}

// metricsListen decodes metrics_listen: a TCP host:port. Unlike pprof it
// may be any address: the metrics hold counts and filter names only, and
// Prometheus usually scrapes from another host.
func (d *decoder) metricsListen(a *hcl.Attribute) string {
	var s string
	if !d.nonEmpty(a, &s) {
		return ""
	}
	network, addr, err := parseAddress(s, true)
	if err == nil && network != "tcp" {
		err = errors.New("a unix socket is not supported here")
	}
	if err != nil {
		d.errorf(a.Expr.Range(), "Invalid address", "metrics_listen %q: %v.", s, err)
		return ""
	}
	return addr
}

// pprofListen decodes pprof_listen: a TCP host:port on a loopback address,
// since the profiles show memory contents and the command line.
func (d *decoder) pprofListen(a *hcl.Attribute) string {
	var s string
	if !d.nonEmpty(a, &s) {
		return ""
	}
	network, addr, err := parseAddress(s, true)
	if err == nil && network != "tcp" {
		err = errors.New("a unix socket is not supported here")
	}
	if err == nil {
		host, _, _ := net.SplitHostPort(addr)
		if ip, perr := netip.ParseAddr(host); host != "localhost" && (perr != nil || !ip.IsLoopback()) {
			err = errors.New("the host must be a loopback address, such as 127.0.0.1")
		}
	}
	if err != nil {
		d.errorf(a.Expr.Range(), "Invalid address", "pprof_listen %q: %v.", s, err)
		return ""
	}
	return addr
}
