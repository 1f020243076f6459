package config

import (
	"net/netip"
	"strings"
)

// Domain returns the served domain called name, compared case-insensitively
// as DNS names are (RFC 4343), ignoring a trailing root dot. It never returns
// the catch-all; use CatchAll for mail to other domains.
func (c *Config) Domain(name string) (*Domain, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
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
