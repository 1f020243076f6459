// Package mailbox is the one rule for an envelope address, the mailbox of a
// MAIL FROM or RCPT TO without its angle brackets, as the relay carries
// it: its SMTP server holds a client's MAIL and RCPT to it, its delivery
// the addresses it writes into the next hop's commands, the plugin host
// the addresses a filter's changes name, and filters (plugins/rewrite)
// the addresses they mean to hand the host. One rule, so that none of
// them accepts what another then refuses. It has no dependencies beyond
// the standard library's strings and unicode, and compiles for wasip1.
package mailbox

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLength is the longest address: RFC 5321 section 4.5.3.1.3 allows a
// path ("<" address ">") of 256 octets, so 254 for the address. That is
// the limit that binds: an address that does not fit a path may be
// refused by any hop after this one, so it is refused here, before the
// relay takes responsibility for the message. The local-part limit of
// section 4.5.3.1.1 (64 octets) is not enforced: it is the least every
// server must take, and forwarders' SRS and VERP senders routinely
// exceed it; the domain limit of section 4.5.3.1.2 (255 octets) is
// looser than this one.
const MaxLength = 254

// Check reports why a is not an envelope address, nil if it is; the null
// sender "" is not one (the callers that allow it, as MAIL FROM:<> does,
// say so). a is local@domain, split at the last '@', at most MaxLength
// bytes of valid UTF-8, and can be written back into a path as it is, as
// the relay does (go-smtp's server takes a quoted local part unquoted, its
// client writes the address between brackets unquoted):
//
//   - the local part is a dot-string (RFC 5321 section 4.1.2): atext
//     (RFC 5322 section 3.2.3) and dots, with UTF-8 beyond ASCII for
//     SMTPUTF8 (RFC 6531 section 3.3) but no control characters; dots are
//     not held to where a Dot-string allows them ("a..b", "a."), which
//     some providers' addresses have and most servers take;
//   - the domain is a Domain, dot-separated labels of letters, digits and
//     hyphens that neither start nor end with a hyphen, U-labels allowed
//     (RFC 6531), or an address literal: "[" printable ASCII "]".
//
// Whether a non-ASCII address may be used at all (SMTPUTF8) is the
// caller's to decide.
func Check(a string) error {
	switch {
	case a == "":
		return fmt.Errorf("empty address")
	case len(a) > MaxLength:
		return fmt.Errorf("address of %d bytes, longer than %d", len(a), MaxLength)
	case !utf8.ValidString(a):
		return fmt.Errorf("address %q is not valid UTF-8", a)
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return fmt.Errorf("address %q is not local@domain", a)
	}
	for _, r := range a[:at] {
		if !localRune(r) {
			return fmt.Errorf("address %q: %q in the local part", a, r)
		}
	}
	if err := CheckDomain(a[at+1:]); err != nil {
		return fmt.Errorf("address %q: %w", a, err)
	}
	return nil
}

// Valid reports whether Check takes a.
func Valid(a string) bool { return Check(a) == nil }

// CheckDomain reports why d is not the domain of an envelope address (see
// Check), nil if it is: at most 255 bytes (RFC 5321 section 4.5.3.1.2),
// an ASCII label at most 63 (RFC 1035 section 2.3.4).
func CheckDomain(d string) error {
	if len(d) > 255 {
		return fmt.Errorf("domain of %d bytes, longer than 255", len(d))
	}
	if strings.HasPrefix(d, "[") {
		lit := strings.TrimSuffix(d[1:], "]")
		if lit == "" || len(lit) != len(d)-2 {
			return fmt.Errorf("domain %q: malformed address literal", d)
		}
		for i := 0; i < len(lit); i++ {
			if c := lit[i]; c <= ' ' || c >= 0x7f || c == '[' || c == ']' || c == '\\' {
				return fmt.Errorf("domain %q: %q in an address literal", d, c)
			}
		}
		return nil
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("domain %q: empty label, or one that starts or ends with a hyphen", d)
		}
		if len(label) > 63 && isASCII(label) {
			return fmt.Errorf("domain %q: label longer than 63 bytes", d)
		}
		for _, r := range label {
			if !(r < utf8.RuneSelf && (r == '-' || '0' <= r && r <= '9' || 'a' <= r|0x20 && r|0x20 <= 'z') ||
				r >= utf8.RuneSelf && !unicode.IsControl(r) && !unicode.IsSpace(r)) {
				return fmt.Errorf("domain %q: %q in a label", d, r)
			}
		}
	}
	return nil
}

// localRune reports whether r may stand in a local part: atext, a dot, or
// a character beyond ASCII that is no control or space.
func localRune(r rune) bool {
	if r >= utf8.RuneSelf {
		return !unicode.IsControl(r) && !unicode.IsSpace(r)
	}
	return 'a' <= r|0x20 && r|0x20 <= 'z' || '0' <= r && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
