// Package trace writes the Received: header field that sluice prepends to
// every message it accepts (RFC 5321 section 4.4), with the "with" keyword of
// RFC 3848 and RFC 6531 computed from what happened on the connection.
//
// The header is built only from facts the relay observed itself (greeting
// verb, TLS state, successful AUTH, SMTPUTF8), never from client- or
// plugin-supplied header fields, so trace information cannot be forged.
package trace

import (
	"crypto/tls"
	"net/netip"
	"strings"
	"time"
)

// Transmission is what really happened on a connection, as observed by the relay.
type Transmission struct {
	LMTP     bool // the LMTP listener (LHLO)
	Extended bool // EHLO (or LHLO) rather than HELO
	TLS      bool // STARTTLS completed, or implicit TLS
	Auth     bool // AUTH succeeded
	UTF8     bool // MAIL FROM carried SMTPUTF8
}

// Keyword returns the registered "with" protocol keyword (RFC 3848 section 2,
// RFC 6531 section 3.7.3).
//
// STARTTLS, AUTH and SMTPUTF8 are service extensions, so a session that used
// any of them is an ESMTP session even if the client greeted with HELO; the
// plain "SMTP" keyword is reserved for sessions that used none.
func Keyword(t Transmission) string {
	var b strings.Builder
	if t.UTF8 {
		b.WriteString("UTF8")
	}
	switch {
	case t.LMTP:
		b.WriteString("LMTP")
	case t.UTF8:
		// RFC 6531: UTF8SMTP is the SMTPUTF8 variant of ESMTP.
		b.WriteString("SMTP")
	case t.Extended || t.TLS || t.Auth:
		b.WriteString("ESMTP")
	default:
		return "SMTP"
	}
	if t.TLS {
		b.WriteString("S")
	}
	if t.Auth {
		b.WriteString("A")
	}
	return b.String()
}

// Stamp is the information that goes into one Received: field.
type Stamp struct {
	Helo     string     // the client's HELO/EHLO/LHLO argument
	ClientIP netip.Addr // invalid for a unix socket
	By       string     // this relay's host name
	With     Transmission
	TLS      *tls.ConnectionState // nil without TLS
	ID       string               // queue id
	For      string               // the recipient, only when the message has exactly one
	Date     time.Time
}

// Header returns the complete field, folded, ending in CRLF.
func (s Stamp) Header() string {
	var b strings.Builder
	b.Grow(256)
	b.WriteString("Received: from ")
	b.WriteString(sanitize(s.Helo, "unknown"))
	b.WriteString(" (")
	if s.ClientIP.IsValid() {
		b.WriteString(addressLiteral(s.ClientIP))
	} else {
		b.WriteString("local")
	}
	b.WriteString(")\r\n\tby ")
	b.WriteString(sanitize(s.By, "localhost"))
	b.WriteString(" (sluice) with ")
	b.WriteString(Keyword(s.With))
	if s.TLS != nil {
		b.WriteString(" (")
		b.WriteString(tls.VersionName(s.TLS.Version))
		b.WriteString(" ")
		b.WriteString(tls.CipherSuiteName(s.TLS.CipherSuite))
		b.WriteString(")")
	}
	b.WriteString("\r\n\tid ")
	b.WriteString(sanitize(s.ID, "unknown"))
	if s.For != "" {
		b.WriteString("\r\n\tfor <")
		b.WriteString(sanitize(s.For, ""))
		b.WriteString(">")
	}
	b.WriteString(";\r\n\t")
	b.WriteString(s.Date.Format(time.RFC1123Z))
	b.WriteString("\r\n")
	return b.String()
}

// addressLiteral formats an IP as in RFC 5321 section 4.1.3.
func addressLiteral(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is4() {
		return "[" + ip.String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}

// sanitize keeps client-supplied words from breaking the header's syntax:
// anything but printable ASCII without spaces, parentheses, angle brackets,
// semicolons and backslashes is replaced, so a hostile HELO cannot inject
// clauses, comments or new header lines.
func sanitize(s, empty string) string {
	if s == "" {
		return empty
	}
	if len(s) > 255 {
		s = s[:255]
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r <= ' ' || r == 0x7f:
			b.WriteByte('_')
		case r > 0x7f:
			// UTF-8 is allowed in trace fields only with SMTPUTF8; keep it
			// readable but harmless.
			b.WriteRune(r)
		case strings.ContainsRune("()<>;\\\"", r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
