package authmail

import (
	"io"
	"net/mail"
	"strings"

	"github.com/sluice-mail/sluice/sdk"
)

// MessageReader rebuilds the message from the event's header fields and
// the body. The host gives each value without the whitespace after the
// colon, so a field is written back as "Name: value"; relaxed header
// canonicalization (RFC 6376 section 3.4.2) ignores that whitespace, and
// so does every signature the dkim filter makes. The body is byte-exact.
func MessageReader(h sdk.Header, body io.Reader) io.Reader {
	var b strings.Builder
	for _, f := range h {
		b.WriteString(f.Name)
		b.WriteString(": ")
		b.WriteString(f.Value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return io.MultiReader(strings.NewReader(b.String()), body)
}

// FromDomain is the domain of the message's single From address
// (RFC 5322.From) as ASCIIDomain gives it, in A-labels even where the
// field has U-labels (RFC 6532): as DMARC looks it up, as a signing key
// is named, as it may stand in any header. It is "" when there is not
// exactly one From field with exactly one parsable address, or when its
// domain is not a valid IDN.
func FromDomain(h sdk.Header) string {
	vs := h.Values("From")
	if len(vs) != 1 {
		return ""
	}
	list, err := mail.ParseAddressList(vs[0])
	if err != nil || len(list) != 1 {
		return ""
	}
	d, ok := ASCIIDomain(sdk.AddressDomain(list[0].Address))
	if !ok {
		return ""
	}
	return d
}
