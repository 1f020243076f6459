package config

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/sluice-mail/sluice/sdk/abi"
	"github.com/sluice-mail/sluice/sdk/dnsname"
)

// filterFiles decodes the settings of the "files" and "socket" grants:
// files, the absolute paths a plugin may read, and socket_endpoint, the one
// stream socket it may call. Like http_endpoint, each needs its grant and
// each grant needs its setting.
func (d *decoder) filterFiles(a hcl.Attributes, f *Filter) {
	if fa := a["files"]; fa != nil {
		list, ranges, ok := d.strList(fa)
		for i, p := range list {
			switch {
			case !filepath.IsAbs(p) || filepath.Clean(p) != p:
				d.errorf(ranges[i], "Invalid path", "files: %q must be an absolute, clean path: the plugin names it exactly so.", p)
				ok = false
			case slices.Contains(list[:i], p):
				d.errorf(ranges[i], "Duplicate value", "files: %q is listed twice.", p)
				ok = false
			}
		}
		if ok {
			f.Files = list
		}
		if !contains(f.Grants, "files") {
			d.errorf(fa.Expr.Range(), "Files without grant", "files is set but grants does not include \"files\".")
		}
	} else if ga := a["grants"]; ga != nil && contains(f.Grants, "files") {
		d.errorf(ga.Expr.Range(), "Missing files", "The \"files\" grant needs files, the paths the filter may read.")
	}
	if sa := a["socket_endpoint"]; sa != nil {
		if network, addr, ok := d.address(sa, false); ok {
			if network == "unix" {
				addr = "unix:" + addr
			}
			f.SocketEndpoint = addr
		}
		if !contains(f.Grants, "socket") {
			d.errorf(sa.Expr.Range(), "Endpoint without grant", "socket_endpoint is set but grants does not include \"socket\".")
		}
	} else if ga := a["grants"]; ga != nil && contains(f.Grants, "socket") {
		d.errorf(ga.Expr.Range(), "Missing socket_endpoint", "The \"socket\" grant needs socket_endpoint, the one socket the filter may call.")
	}
}

// filterSigningKeys decodes signing_keys, the setting of the "sign" grant:
// an object mapping key names to PEM private key files (a relative path is
// relative to the configuration file). Only their shape is checked here;
// the plugin host reads and validates the keys when it starts.
func (d *decoder) filterSigningKeys(a hcl.Attributes, f *Filter) {
	ka := a["signing_keys"]
	if ka == nil {
		if ga := a["grants"]; ga != nil && contains(f.Grants, "sign") {
			d.errorf(ga.Expr.Range(), "Missing signing_keys", "The \"sign\" grant needs signing_keys, such as { \"example.com/sel1\" = \"/etc/sluice/dkim/example.com.sel1.pem\" }.")
		}
		return
	}
	if !contains(f.Grants, "sign") {
		d.errorf(ka.Expr.Range(), "Keys without grant", "signing_keys is set but grants does not include \"sign\".")
	}
	v, ok := d.value(ka, cty.Map(cty.String))
	if !ok {
		return
	}
	if v.LengthInt() == 0 {
		d.errorf(ka.Expr.Range(), "Invalid value", "signing_keys must name at least one key; leave out the \"sign\" grant instead.")
		return
	}
	var keys []SigningKey
	for it := v.ElementIterator(); it.Next(); { // in lexical order of the names
		k, p := it.Element()
		if p.IsNull() || p.AsString() == "" {
			d.errorf(ka.Expr.Range(), "Invalid value", "signing_keys: %q needs the path of a PEM private key file.", k.AsString())
			ok = false
			continue
		}
		if !validSigningKeyName(k.AsString()) {
			d.errorf(ka.Expr.Range(), "Invalid key name", "signing_keys: %q must be 1 to 255 letters, digits, '.', '-', '_', '@' or '/', starting with a letter or digit (the dkim filter wants \"domain/selector\").", k.AsString())
			ok = false
			continue
		}
		keys = append(keys, SigningKey{Name: k.AsString(), Path: d.path(p.AsString())})
	}
	if ok {
		f.SigningKeys = keys
	}
}

func validSigningKeyName(s string) bool {
	if s == "" || len(s) > 255 || !isAlnum(s[0]) {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && !strings.ContainsRune("._-@/", rune(c)) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// filterDNSZones decodes dns_zones, the optional setting of the "dns" grant:
// the zones the plugin may look names up in, so that it cannot send what it
// read in a message out in the names it asks about. Each is kept as an
// A-label name in lower case without the trailing dot (dnsname.ASCII).
func (d *decoder) filterDNSZones(a hcl.Attributes, f *Filter) {
	za := a["dns_zones"]
	if za == nil {
		return
	}
	if !contains(f.Grants, "dns") {
		d.errorf(za.Expr.Range(), "Zones without grant", "dns_zones is set but grants does not include \"dns\".")
	}
	list, ranges, ok := d.strList(za)
	if ok && len(list) == 0 {
		d.errorf(za.Expr.Range(), "Invalid value", "dns_zones must name at least one zone; leave it out to allow any name.")
		return
	}
	zones := make([]string, 0, len(list))
	for i, z := range list {
		n := dnsname.ASCII(z)
		switch {
		case !validZone(n):
			d.errorf(ranges[i], "Invalid zone", "dns_zones: %q is not a domain name such as \"zen.spamhaus.org\".", z)
			ok = false
		case slices.Contains(zones, n):
			d.errorf(ranges[i], "Duplicate value", "dns_zones: %q is listed twice.", z)
			ok = false
		}
		zones = append(zones, n)
	}
	if ok {
		f.DNSZones = zones
	}
}

// validZone accepts a lower-case domain name of labels of 1 to 63 letters,
// digits, hyphens and underscores (as in "_domainkey"), at most 253 bytes,
// without a trailing dot; not the root.
func validZone(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// filterBlobQuotas decodes blob_quota and blob_message_quota, the limits
// of the "blob" grant (defaults abi.DefaultBlobQuota, abi.DefaultBlobMessageQuota;
// both stay 0 without the grant).
func (d *decoder) filterBlobQuotas(a hcl.Attributes, f *Filter) {
	if contains(f.Grants, "blob") {
		f.BlobQuota, f.BlobMessageQuota = abi.DefaultBlobQuota, abi.DefaultBlobMessageQuota
	}
	for _, q := range []struct {
		name string
		dst  *int64
	}{{"blob_quota", &f.BlobQuota}, {"blob_message_quota", &f.BlobMessageQuota}} {
		qa := a[q.name]
		if qa == nil {
			continue
		}
		d.size(qa, q.dst)
		if !contains(f.Grants, "blob") {
			d.errorf(qa.Expr.Range(), "Quota without grant", "%s is set but grants does not include \"blob\".", q.name)
		}
	}
}
