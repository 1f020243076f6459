package deliver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/miekg/dns"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/sdk/dnsname"
	"github.com/sluice-mail/sluice/sdk/mailbox"
)

// Bounds on what a hostile zone can make one delivery do.
const (
	maxMXHosts    = 10 // MX hosts considered per domain
	maxMXAttempts = 8  // connections tried per delivery
)

// mx delivers to the mail exchangers of each recipient's domain
// (RFC 5321 §5.1).
type mx struct {
	resolver string
	port     int
	timeout  time.Duration
	dial     *dialer
	pool     *pool
	log      hclog.Logger
}

func newMX(d config.Delivery, resolver string, port int, opts Options) *mx {
	return &mx{
		resolver: resolver,
		port:     port,
		timeout:  opts.DialTimeout,
		dial:     &dialer{opts: opts, tlsMode: d.TLS},
		pool:     newPool(opts.MaxIdle, opts.IdleTimeout),
		log:      opts.Logger.Named("mx"),
	}
}

func (m *mx) Close() error {
	m.pool.close()
	return nil
}

func (m *mx) Deliver(ctx context.Context, msg *Message, rcpts []string) []Result {
	out := make([]Result, len(rcpts))
	// Callers group recipients by destination, but be safe with mixed domains.
	var order []string
	groups := make(map[string][]int)
	for i, rc := range rcpts {
		_, domain, ok := splitAddress(rc)
		if !ok {
			out[i] = Result{Rcpt: rc, Code: 550, Enhanced: "5.1.3", Text: "recipient address has no domain", Permanent: true}
			continue
		}
		domain = strings.ToLower(strings.TrimSuffix(domain, "."))
		if groups[domain] == nil {
			order = append(order, domain)
		}
		groups[domain] = append(groups[domain], i)
	}
	for _, domain := range order {
		idx := groups[domain]
		sub := make([]string, len(idx))
		for k, i := range idx {
			sub[k] = rcpts[i]
		}
		res := m.deliverDomain(ctx, domain, msg, sub)
		for k, i := range idx {
			out[i] = res[k]
			m.log.Debug("delivery", "id", msg.ID, "domain", domain, "rcpt", rcpts[i], "result", out[i].String())
		}
	}
	return out
}

// deliverDomain tries the domain's hosts in preference order. Recipients
// that meet a transient failure (no connection, 4xx) move on to the next
// host; a success or a 5xx is final.
func (m *mx) deliverDomain(ctx context.Context, domain string, msg *Message, rcpts []string) []Result {
	hosts, err := m.lookupMX(ctx, domain)
	if err != nil {
		return fill(rcpts, classify(ctx, "", "", err))
	}
	out := fill(rcpts, Result{Text: "no mail exchanger of " + domain + " could be tried"})
	pending := make([]int, len(rcpts))
	for i := range pending {
		pending[i] = i
	}
	attempts := 0
	for _, host := range hosts {
		addrs, err := m.lookupAddrs(ctx, host)
		if err != nil {
			for _, i := range pending {
				out[i] = classify(ctx, rcpts[i], "", err)
			}
			continue
		}
		for _, addr := range addrs {
			if attempts == maxMXAttempts || ctx.Err() != nil {
				return out
			}
			attempts++
			h := hop{network: "tcp", address: net.JoinHostPort(addr, strconv.Itoa(m.port)), serverName: host.name}
			send := make([]string, len(pending))
			for k, i := range pending {
				send[k] = rcpts[i]
			}
			res := sendToHop(ctx, m.dial, m.pool, h, msg, send)
			var still []int
			for k, i := range pending {
				out[i] = res[k]
				if !res[k].OK() && !res[k].Permanent {
					still = append(still, i)
				}
			}
			if pending = still; len(pending) == 0 {
				return out
			}
		}
	}
	return out
}

type mxHost struct {
	name     string
	pref     uint16
	literal  string // address literal domain: connect here, no lookup
	implicit bool   // no MX record: the domain itself (RFC 5321 §5.1)
}

// lookupMX returns the hosts to try in order: by preference, random among
// equal preference so that load spreads (RFC 5321 §5.1).
func (m *mx) lookupMX(ctx context.Context, domain string) ([]mxHost, error) {
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		lit := strings.TrimPrefix(domain[1:len(domain)-1], "ipv6:")
		ip, err := netip.ParseAddr(lit)
		if err != nil {
			return nil, localErr(550, "5.1.2", "bad address literal %q", domain)
		}
		return []mxHost{{name: ip.String(), literal: ip.String()}}, nil
	}
	domain = dnsname.ASCII(domain) // DNS holds IDNs as A-labels
	if _, ok := dns.IsDomainName(domain); !ok || len(domain) > 253 || mailbox.CheckDomain(domain) != nil {
		return nil, localErr(550, "5.1.2", "bad destination domain %q", cleanText(domain))
	}
	r, err := m.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, localErr(550, "5.1.2", "domain %s does not exist", domain)
	default:
		return nil, fmt.Errorf("DNS MX lookup for %s: %s", domain, dns.RcodeToString[r.Rcode])
	}
	var hosts []mxHost
	null := false
	for _, rr := range r.Answer {
		if rec, ok := rr.(*dns.MX); ok {
			if rec.Mx == "." {
				null = true
				continue
			}
			hosts = append(hosts, mxHost{name: strings.ToLower(strings.TrimSuffix(rec.Mx, ".")), pref: rec.Preference})
		}
	}
	if null && len(hosts) == 0 {
		// RFC 7505 §3: the domain accepts no mail at all.
		return nil, localErr(556, "5.1.10", "domain %s accepts no mail (null MX)", domain)
	}
	if len(hosts) == 0 {
		return []mxHost{{name: domain, implicit: true}}, nil
	}
	rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	sort.SliceStable(hosts, func(i, j int) bool { return hosts[i].pref < hosts[j].pref })
	if len(hosts) > maxMXHosts {
		hosts = hosts[:maxMXHosts]
	}
	return hosts, nil
}

// lookupAddrs resolves a host to IPv4 then IPv6 addresses.
func (m *mx) lookupAddrs(ctx context.Context, h mxHost) ([]string, error) {
	if h.literal != "" {
		return []string{h.literal}, nil
	}
	if ip, err := netip.ParseAddr(h.name); err == nil {
		return []string{ip.String()}, nil // an MX naming an address: invalid, but common
	}
	var addrs []string
	var lastErr error
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		r, err := m.query(ctx, h.name, qt)
		if err != nil {
			lastErr = err
			continue
		}
		switch r.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			continue
		default:
			lastErr = fmt.Errorf("DNS %s lookup for %s: %s", dns.TypeToString[qt], h.name, dns.RcodeToString[r.Rcode])
			continue
		}
		for _, rr := range r.Answer {
			switch rec := rr.(type) {
			case *dns.A:
				addrs = append(addrs, rec.A.String())
			case *dns.AAAA:
				addrs = append(addrs, rec.AAAA.String())
			}
		}
	}
	if len(addrs) > 0 {
		return addrs, nil
	}
	if lastErr != nil {
		return nil, lastErr
	}
	if h.implicit {
		// Neither MX nor address records: the domain cannot receive mail.
		return nil, localErr(550, "5.1.2", "domain %s has no MX and no address records", h.name)
	}
	return nil, fmt.Errorf("mail exchanger %s has no address records", h.name)
}

// query asks the configured resolver, over TCP when the UDP answer was truncated.
func (m *mx) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	q.SetEdns0(1232, false)
	c := &dns.Client{Net: "udp", Timeout: m.timeout}
	r, _, err := c.ExchangeContext(ctx, q, m.resolver)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, q, m.resolver)
	}
	if err != nil {
		return nil, fmt.Errorf("DNS %s lookup for %s: %w", dns.TypeToString[qtype], name, err)
	}
	return r, nil
}
