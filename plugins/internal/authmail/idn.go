package authmail

import (
	"strings"

	"golang.org/x/net/idna"

	"github.com/sluice-mail/sluice/plugins/internal/hdrtext"
	"github.com/sluice-mail/sluice/sdk/dnsname"
)

// ASCIIDomain returns a domain name as DNS holds it: lower case, without
// a trailing root dot, internationalized labels as A-labels
// ("Bücher.example." gives "xn--bcher-kva.example"). Internationalized
// mail may name a domain in U-labels (RFC 6531, in headers RFC 6532),
// but SPF, DKIM and DMARC look the A-labels up (RFC 8616), and only
// A-labels may stand in a header of a message sent without SMTPUTF8.
// It converts as the relay does (sdk/dnsname, the idna.Lookup profile);
// where that refuses the whole name for an ASCII label that is no host
// name ("_dmarc", "sel._domainkey"), each non-ASCII label is converted
// alone and the others kept. ok is false for a non-ASCII name that is not a valid IDN;
// it comes back lower-cased.
func ASCIIDomain(name string) (ascii string, ok bool) {
	name = dnsname.ASCII(name) // unchanged, lower-cased, if it is no IDN
	if hdrtext.ASCII(name) {
		return name, true
	}
	labels := strings.Split(name, ".")
	for i, l := range labels {
		if hdrtext.ASCII(l) {
			continue
		}
		a, err := idna.Lookup.ToASCII(l)
		if err != nil || strings.Contains(a, ".") {
			return name, false
		}
		labels[i] = a
	}
	return strings.Join(labels, "."), true
}

// asciiDomain is ASCIIDomain without ok: a name that is not a valid IDN
// stays as it is, lower-cased, for the caller's check to refuse.
func asciiDomain(name string) string {
	a, _ := ASCIIDomain(name)
	return a
}
