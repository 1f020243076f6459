package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/sluice-mail/sluice/sdk/dnsname"
)

// Sendmail is the optional `sendmail { ... }` block: how `sluice sendmail`
// (the local programs' /usr/sbin/sendmail) hands mail to this relay.
type Sendmail struct {
	// Listener names the listener sendmail submits through; "" picks one
	// (see LocalSubmission).
	Listener string
	// Origin is the domain given to a sender or recipient written without
	// one, as a bare user name (Postfix's myorigin); "" means Hostname.
	Origin string
}

var sendmailSchema = &hcl.BodySchema{Attributes: attrs("listener", "origin")}

// sendmail decodes the sendmail block; c's listeners are already decoded.
func (d *decoder) sendmail(b *hcl.Block, c *Config) *Sendmail {
	s := &Sendmail{}
	content := d.content(b.Body, sendmailSchema)
	if a := content.Attributes["origin"]; d.nonEmpty(a, &s.Origin) {
		s.Origin = dnsname.ASCII(s.Origin)
		if !isHostname(s.Origin) {
			d.errorf(a.Expr.Range(), "Invalid origin", "origin %q is not a domain name.", s.Origin)
		}
	}
	if a := content.Attributes["listener"]; d.nonEmpty(a, &s.Listener) {
		var l *Listener
		for i := range c.Listeners {
			if c.Listeners[i].Name == s.Listener {
				l = &c.Listeners[i]
			}
		}
		if l == nil {
			d.errorf(a.Expr.Range(), "Unknown listener", "There is no listener %q for sendmail to submit through.", s.Listener)
		} else if _, _, err := c.localEndpoint(*l); err != nil {
			d.errorf(a.Expr.Range(), "Listener unfit for sendmail", "Listener %q: %v.", s.Listener, err)
		}
	}
	return s
}

// SendmailOrigin is the domain of addresses that sendmail is given without
// one: the sendmail block's origin, else the hostname.
func (c *Config) SendmailOrigin() string {
	if c.Sendmail != nil && c.Sendmail.Origin != "" {
		return c.Sendmail.Origin
	}
	return strings.ToLower(c.Hostname)
}

// LocalSubmission returns the listener `sluice sendmail` submits through
// and the network and address to dial: the sendmail block's listener, else
// the first fit one in this order: a unix-socket smtp listener, a
// unix-socket lmtp listener, a TCP smtp listener, a TCP lmtp listener.
// A listener is fit when the relay lets a local client relay through it
// without AUTH (submission and smtps listeners need AUTH, which sendmail
// has no credentials for): any unix socket (its socket_mode decides who
// may connect), or a TCP listener on an address in trusted_networks
// (loopback by default); a listener on all interfaces is dialled on
// loopback.
func (c *Config) LocalSubmission() (l Listener, network, address string, err error) {
	if c.Sendmail != nil && c.Sendmail.Listener != "" {
		for _, l := range c.Listeners {
			if l.Name == c.Sendmail.Listener {
				network, address, err := c.localEndpoint(l)
				return l, network, address, err
			}
		}
		return Listener{}, "", "", fmt.Errorf("no listener %q", c.Sendmail.Listener)
	}
	for _, want := range []struct {
		network string
		kind    ListenerKind
	}{{"unix", KindSMTP}, {"unix", KindLMTP}, {"tcp", KindSMTP}, {"tcp", KindLMTP}} {
		for _, l := range c.Listeners {
			if l.Network != want.network || l.Kind != want.kind {
				continue
			}
			if network, address, err := c.localEndpoint(l); err == nil {
				return l, network, address, nil
			}
		}
	}
	return Listener{}, "", "", errors.New("no listener takes local mail without AUTH: add a unix-socket smtp listener, " +
		"or an smtp listener on loopback with loopback in trusted_networks (see the sendmail block in docs/config.md)")
}

// localEndpoint returns where a local client dials listener l, or why the
// relay would not let it relay without AUTH there.
func (c *Config) localEndpoint(l Listener) (network, address string, err error) {
	if l.Kind != KindSMTP && l.Kind != KindLMTP {
		return "", "", fmt.Errorf("a %s listener requires AUTH; sendmail needs an smtp or lmtp listener", l.Kind)
	}
	if l.Network == "unix" {
		return "unix", l.Address, nil
	}
	host, port, err := net.SplitHostPort(l.Address)
	if err != nil {
		return "", "", err
	}
	if port == "0" {
		return "", "", errors.New("port 0 is chosen anew at each start; sendmail cannot know it")
	}
	var ip netip.Addr
	switch a, perr := netip.ParseAddr(host); {
	case host == "" || perr == nil && a.Is4() && a.IsUnspecified():
		ip = netip.MustParseAddr("127.0.0.1")
	case perr == nil && a.IsUnspecified():
		ip = netip.IPv6Loopback()
	case perr == nil:
		ip = a
	default:
		return "", "", fmt.Errorf("host %q is a name; sendmail dials an IP address", host)
	}
	if !c.Trusted(ip) {
		return "", "", fmt.Errorf("%s is not in trusted_networks, so the relay would refuse to relay for sendmail there", ip)
	}
	return "tcp", net.JoinHostPort(ip.String(), port), nil
}
