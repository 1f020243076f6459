package config

import (
	"net/netip"
	"time"

	"github.com/sluice-mail/sluice/sdk/dnsname"
)

// Domain returns the served domain called name, compared case-insensitively
// as DNS names are (RFC 4343), ignoring a trailing root dot, with U-labels
// matching the block's A-labels (dnsname.ASCII). It never returns the
// catch-all; use CatchAll for mail to other domains.
func (c *Config) Domain(name string) (*Domain, bool) {
	name = dnsname.ASCII(name)
	if name == "*" {
		return nil, false
	}
	for i := range c.Domains {
		if c.Domains[i].Name == name {
			return &c.Domains[i], true
		}
	}
	return nil, false
}

// CatchAll returns the `domain "*"` block, or nil when mail for domains not
// listed is refused.
func (c *Config) CatchAll() *Domain {
	for i := range c.Domains {
		if c.Domains[i].Name == "*" {
			return &c.Domains[i]
		}
	}
	return nil
}

// Schedule returns the retry schedule of domain block d (nil: none): its
// own retry_min, retry_max and give_up_after, else the queue block's.
func (c *Config) Schedule(d *Domain) (retryMin, retryMax, giveUpAfter time.Duration) {
	retryMin, retryMax, giveUpAfter = c.Queue.RetryMin, c.Queue.RetryMax, c.Queue.GiveUpAfter
	if d == nil {
		return
	}
	if d.RetryMin > 0 {
		retryMin = d.RetryMin
	}
	if d.RetryMax > 0 {
		retryMax = d.RetryMax
	}
	if d.GiveUpAfter > 0 {
		giveUpAfter = d.GiveUpAfter
	}
	return
}

// UserByName returns the user with exactly this name (user names are
// case-sensitive, as SASL authentication identities are).
func (c *Config) UserByName(name string) (*User, bool) {
	for i := range c.Users {
		if c.Users[i].Name == name {
			return &c.Users[i], true
		}
	}
	return nil, false
}

// Trusted reports whether ip is in TrustedNetworks. An IPv4-mapped IPv6
// address (::ffff:127.0.0.1, as a dual-stack socket reports IPv4 peers)
// matches the IPv4 prefixes, and a zone is ignored.
func (c *Config) Trusted(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, p := range c.TrustedNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// FilterByName returns the filter block with this name.
func (c *Config) FilterByName(name string) (*Filter, bool) {
	for i := range c.Filters {
		if c.Filters[i].Name == name {
			return &c.Filters[i], true
		}
	}
	return nil, false
}
