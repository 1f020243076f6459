package plugin

import (
	"net/netip"
	"strings"

	"github.com/sluice-mail/sluice/sdk/dnsname"
)

// dnsZoneName returns the name a dns_lookup of typ for name asks about, as
// the dns_zones setting compares it: lower case, A-labels, without the
// trailing dot; for PTR the reverse name of the address (in-addr.arpa or
// ip6.arpa). ok is false for a name that is not a DNS name made of labels
// of letters, digits, '-' and '_' (or, for PTR, not an IP address).
func dnsZoneName(typ, name string) (string, bool) {
	if strings.EqualFold(typ, "PTR") {
		a, err := netip.ParseAddr(name)
		if err != nil {
			return "", false
		}
		return reverseName(a.Unmap()), true
	}
	n := dnsname.ASCII(name)
	if n == "" || len(n) > 253 {
		return "", false
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return "", false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	return n, true
}

// reverseName is the PTR name of an address (RFC 1035 section 3.5,
// RFC 3596 section 2.5), without the trailing dot.
func reverseName(a netip.Addr) string {
	var b strings.Builder
	s := a.AsSlice()
	if a.Is4() {
		for i := len(s) - 1; i >= 0; i-- {
			b.WriteString(itoa(int(s[i])) + ".")
		}
		b.WriteString("in-addr.arpa")
		return b.String()
	}
	const hex = "0123456789abcdef"
	for i := len(s) - 1; i >= 0; i-- {
		b.WriteByte(hex[s[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[s[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa")
	return b.String()
}

// inZones reports whether name (as dnsZoneName gives it) is one of zones or
// below one, on a label boundary: "evilzen.spamhaus.org" is not in
// "zen.spamhaus.org".
func inZones(name string, zones []string) bool {
	for _, z := range zones {
		if name == z || strings.HasSuffix(name, "."+z) {
			return true
		}
	}
	return false
}
