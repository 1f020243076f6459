package config

import (
	"strings"
	"testing"
)

// TestLocalSubmission: which listener `sluice sendmail` dials, and where.
func TestLocalSubmission(t *testing.T) {
	const domain = "\ndomain \"localhost\" {\n  deliver \"maildir\" {}\n}\n"
	for _, tc := range []struct {
		name, src               string
		listener, network, addr string // want
		err                     string // want, instead
	}{
		{name: "embedded default: loopback smtp",
			src:      string(defaultHCL),
			listener: "smtp", network: "tcp", addr: "127.0.0.1:2525"},
		{name: "a unix socket wins over loopback",
			src: `listener "smtp" { address = "127.0.0.1:25" }
listener "local" {
  kind    = "smtp"
  address = "unix:/run/sluice/smtp.sock"
}`,
			listener: "local", network: "unix", addr: "/run/sluice/smtp.sock"},
		{name: "all interfaces are dialled on loopback",
			src:      `listener "smtp" { address = ":25" }`,
			listener: "smtp", network: "tcp", addr: "127.0.0.1:25"},
		{name: "IPv6 any on ::1",
			src:      `listener "smtp" { address = "[::]:25" }`,
			listener: "smtp", network: "tcp", addr: "[::1]:25"},
		{name: "lmtp when there is no smtp",
			src: `listener "submission" { address = "127.0.0.1:587" }
listener "lmtp" { address = "127.0.0.1:24" }`,
			listener: "lmtp", network: "tcp", addr: "127.0.0.1:24"},
		{name: "loopback not trusted",
			src: `trusted_networks = []
listener "smtp" { address = "127.0.0.1:25" }`,
			err: "no listener takes local mail without AUTH"},
		{name: "only submission",
			src: `listener "submission" { address = "127.0.0.1:587" }`,
			err: "no listener takes local mail without AUTH"},
		{name: "the sendmail block names one",
			src: `listener "smtp" { address = "127.0.0.1:25" }
listener "inbound" {
  kind    = "smtp"
  address = "127.0.0.1:2525"
}
sendmail {
  listener = "inbound"
  origin   = "Example.ORG"
}`,
			listener: "inbound", network: "tcp", addr: "127.0.0.1:2525"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			if !strings.Contains(src, "domain ") {
				src += domain
			}
			c, diags := Parse([]byte(src), "test.hcl", "")
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			l, network, addr, err := c.LocalSubmission()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Name != tc.listener || network != tc.network || addr != tc.addr {
				t.Errorf("got %s %s %s, want %s %s %s", l.Name, network, addr, tc.listener, tc.network, tc.addr)
			}
		})
	}
}

func TestSendmailOrigin(t *testing.T) {
	c, diags := Parse([]byte(`hostname = "Mail.Example.com"
listener "smtp" { address = "127.0.0.1:25" }
domain "localhost" {
  deliver "maildir" {}
}`), "test.hcl", "")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if got := c.SendmailOrigin(); got != "mail.example.com" {
		t.Errorf("origin without a sendmail block: %q", got)
	}
	c.Sendmail = &Sendmail{Origin: "example.com"}
	if got := c.SendmailOrigin(); got != "example.com" {
		t.Errorf("origin from the block: %q", got)
	}
}
