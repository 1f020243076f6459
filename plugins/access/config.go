package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// Config is the filter's `config = { ... }` block (see README.md).
type Config struct {
	Allow     Lists             `json:"allow"`
	Deny      Lists             `json:"deny"`
	Domains   map[string]Domain `json:"domains"`
	DNSBL     DNSBLConfig       `json:"dnsbl"`
	Greylist  GreylistConfig    `json:"greylist"`
	RateLimit RateConfig        `json:"rate_limit"`
}

// Lists are address, name and network lists. Entries:
//   - ips: an address or a CIDR prefix ("192.0.2.7", "2001:db8::/32");
//   - helo: an exact name, ".example.com" (the domain and its subdomains),
//     or a pattern with * and ?;
//   - senders, recipients: an exact address, "@example.com" or "example.com"
//     (that domain), "@.example.com" (the domain and its subdomains), a
//     pattern with * and ?, or "<>" for the null sender;
//   - users: authenticated user names (deny only, at AUTH).
type Lists struct {
	IPs        []string `json:"ips"`
	Helo       []string `json:"helo"`
	Senders    []string `json:"senders"`
	Recipients []string `json:"recipients"`
	Users      []string `json:"users"`
}

// Domain holds the lists that apply to recipients of one domain, at RCPT.
type Domain struct {
	Allow Lists `json:"allow"`
	Deny  Lists `json:"deny"`
}

// DNSBLConfig lists the DNS blocklists queried for the client IP.
type DNSBLConfig struct {
	Lists []DNSBL `json:"lists"`
	// Threshold is the total weight at which the client is refused (default 1).
	Threshold float64 `json:"threshold"`
	// Stage is "connect" (default: refuse the connection) or "rcpt"
	// (refuse each recipient, so allowed recipients such as postmaster
	// still get mail).
	Stage string `json:"stage"`
}

// DNSBL is one list: a query for the client's reversed address under Zone
// that answers an A record in 127.0.0.0/8 is a hit worth Weight.
type DNSBL struct {
	Zone   string  `json:"zone"`
	Weight float64 `json:"weight"`
	// Answers, if set, are the only A records that count as a hit
	// (e.g. ["127.0.0.2", "127.0.0.3"]).
	Answers []string `json:"answers"`
}

// GreylistConfig sets greylisting at RCPT (RFC 6647).
type GreylistConfig struct {
	Enabled bool `json:"enabled"`
	// Delay is how long, in seconds, a new triplet is refused (default 300).
	Delay float64 `json:"delay"`
	// RetryWindow is how long, in seconds, a refused triplet waits for its
	// retry before it is forgotten (default 2 days).
	RetryWindow float64 `json:"retry_window"`
	// Lifetime is how long, in seconds, a passed triplet stays passed
	// after its last message (default 35 days).
	Lifetime float64 `json:"lifetime"`
	// IPv4Prefix and IPv6Prefix set the client network of the triplet
	// (default 24 and 64): senders retry from another address of their pool.
	IPv4Prefix int `json:"ipv4_prefix"`
	IPv6Prefix int `json:"ipv6_prefix"`
}

// RateConfig sets the per-IP and per-sender limits, counted at MAIL FROM.
type RateConfig struct {
	PerIP     Rate `json:"per_ip"`
	PerSender Rate `json:"per_sender"`
}

// Rate allows Messages transactions per Window seconds; 0 messages: no limit.
type Rate struct {
	Messages int     `json:"messages"`
	Window   float64 `json:"window"`
}

// policy is the parsed, validated configuration.
type policy struct {
	allow, deny lists
	domains     map[string]*domainLists
	dnsbl       []dnsbl
	dnsblAt     string
	threshold   float64
	grey        GreylistConfig
	rate        RateConfig
}

type lists struct {
	ips                      []netip.Prefix
	helo, senders, rcpts, us []string
}

type domainLists struct{ allow, deny lists }

type dnsbl struct {
	zone    string
	weight  float64
	answers map[netip.Addr]bool
}

// parsePolicy reads and checks the config JSON; the error names the
// offending setting.
func parsePolicy(raw []byte) (*policy, error) {
	var c Config
	if len(raw) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	p := &policy{domains: map[string]*domainLists{}, grey: c.Greylist, rate: c.RateLimit}
	var err error
	if p.allow, err = parseLists("allow", c.Allow); err != nil {
		return nil, err
	}
	if p.deny, err = parseLists("deny", c.Deny); err != nil {
		return nil, err
	}
	for name, d := range c.Domains {
		dl := &domainLists{}
		if dl.allow, err = parseLists("domains."+name+".allow", d.Allow); err != nil {
			return nil, err
		}
		if dl.deny, err = parseLists("domains."+name+".deny", d.Deny); err != nil {
			return nil, err
		}
		p.domains[strings.ToLower(strings.TrimSuffix(name, "."))] = dl
	}
	for i, l := range c.DNSBL.Lists {
		zone := strings.Trim(strings.ToLower(l.Zone), ".")
		if zone == "" || len(zone) > 200 {
			return nil, fmt.Errorf("config: dnsbl.lists[%d]: zone must be a domain name", i)
		}
		b := dnsbl{zone: zone, weight: l.Weight}
		if b.weight == 0 {
			b.weight = 1
		}
		for _, a := range l.Answers {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				return nil, fmt.Errorf("config: dnsbl.lists[%d].answers: %q is not an IP address", i, a)
			}
			if b.answers == nil {
				b.answers = map[netip.Addr]bool{}
			}
			b.answers[ip] = true
		}
		p.dnsbl = append(p.dnsbl, b)
	}
	p.threshold = c.DNSBL.Threshold
	if p.threshold <= 0 {
		p.threshold = 1
	}
	switch c.DNSBL.Stage {
	case "", "connect":
		p.dnsblAt = "connect"
	case "rcpt":
		p.dnsblAt = "rcpt"
	default:
		return nil, fmt.Errorf("config: dnsbl.stage must be \"connect\" or \"rcpt\", not %q", c.DNSBL.Stage)
	}
	g := &p.grey
	if g.Delay == 0 {
		g.Delay = 300
	}
	if g.RetryWindow == 0 {
		g.RetryWindow = 2 * 86400
	}
	if g.Lifetime == 0 {
		g.Lifetime = 35 * 86400
	}
	if g.IPv4Prefix == 0 {
		g.IPv4Prefix = 24
	}
	if g.IPv6Prefix == 0 {
		g.IPv6Prefix = 64
	}
	if g.Delay < 0 || g.RetryWindow < 0 || g.Lifetime < 0 || g.IPv4Prefix < 0 || g.IPv4Prefix > 32 || g.IPv6Prefix < 0 || g.IPv6Prefix > 128 {
		return nil, fmt.Errorf("config: greylist: delays must be positive, ipv4_prefix 0-32, ipv6_prefix 0-128")
	}
	for _, r := range []struct {
		name string
		r    Rate
	}{{"per_ip", c.RateLimit.PerIP}, {"per_sender", c.RateLimit.PerSender}} {
		if r.r.Messages < 0 || (r.r.Messages > 0 && r.r.Window <= 0) {
			return nil, fmt.Errorf("config: rate_limit.%s: messages must be >= 0 and window > 0 seconds", r.name)
		}
	}
	return p, nil
}

func parseLists(where string, l Lists) (lists, error) {
	var out lists
	for _, s := range l.IPs {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return out, fmt.Errorf("config: %s.ips: %q is not an address or CIDR prefix", where, s)
			}
			out.ips = append(out.ips, pfx.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return out, fmt.Errorf("config: %s.ips: %q is not an address or CIDR prefix", where, s)
		}
		ip = ip.Unmap()
		out.ips = append(out.ips, netip.PrefixFrom(ip, ip.BitLen()))
	}
	lower := func(v []string) []string {
		var r []string
		for _, s := range v {
			if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
				r = append(r, s)
			}
		}
		return r
	}
	out.helo, out.senders, out.rcpts, out.us = lower(l.Helo), lower(l.Senders), lower(l.Recipients), lower(l.Users)
	return out, nil
}
