// Package dnsname is the one rule for writing a domain name the way DNS
// holds it: lower case, without the trailing root dot, internationalized
// labels as A-labels. The relay's configuration (domain blocks, dns_zones,
// sendmail's origin), its delivery (MX lookups) and the plugin host (the
// names a filter looks up under dns_zones) all compare names in this
// form, so they convert them here and nowhere else. It compiles for
// wasip1, so that guests may share it.
package dnsname

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ASCII returns name as DNS holds it ("Bücher.example." gives
// "xn--bcher-kva.example"; SMTPUTF8 mail may name either form), with the
// IDNA lookup profile (UTS #46, as resolvers apply it). A name that is not
// a valid IDN comes back lower-cased, for the caller's check to refuse.
func ASCII(name string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			if a, err := idna.Lookup.ToASCII(name); err == nil {
				return a
			}
			return name
		}
	}
	return name
}
