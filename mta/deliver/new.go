package deliver

import (
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/miekg/dns"

	"github.com/sluice-mail/sluice/mta/config"
)

// Options are the process-wide settings every transport shares.
type Options struct {
	// Hostname is sent in EHLO/LHLO and written into Maildir file names.
	Hostname string
	// DataDir replaces {data_dir} in Maildir path templates.
	DataDir string
	Logger  hclog.Logger
	// DialTimeout bounds connecting (TCP and TLS handshake) and each DNS query.
	// Zero means 30s.
	DialTimeout time.Duration
	// CommandTimeout bounds each SMTP command and reply, and each write of the
	// body. Zero means 5 minutes, as RFC 5321 §4.5.3.2 suggests; the reply to
	// the final dot may take twice as long (§4.5.3.2.6).
	CommandTimeout time.Duration
	// RootCAs verifies next hops under TLS "verify"; nil means the system pool.
	RootCAs *x509.CertPool
	// MaxIdle is how many greeted connections are kept per next hop. Zero means 4.
	MaxIdle int
	// IdleTimeout closes pooled connections unused this long. Zero means 30s.
	IdleTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Hostname == "" {
		o.Hostname = config.DefaultHostname
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 30 * time.Second
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	if o.MaxIdle <= 0 {
		o.MaxIdle = 4
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	return o
}

// New builds the transport a domain's deliver block describes. It checks
// what can be checked without the network; the loader has validated syntax.
func New(d config.Delivery, opts Options) (Transport, error) {
	opts = opts.withDefaults()
	if strings.ContainsAny(opts.Hostname, " \r\n\t") {
		return nil, fmt.Errorf("deliver: hostname %q is not a valid EHLO name", opts.Hostname)
	}
	switch d.Method {
	case config.DeliverMaildir:
		if d.Path == "" {
			return nil, fmt.Errorf("deliver maildir: path is empty")
		}
		if strings.Contains(d.Path, "{data_dir}") && opts.DataDir == "" {
			return nil, fmt.Errorf("deliver maildir: path %q uses {data_dir} but no data directory is set", d.Path)
		}
		return newMaildir(d.Path, opts), nil
	case config.DeliverLMTP:
		h, err := fixedHop(d, true)
		if err != nil {
			return nil, fmt.Errorf("deliver lmtp: %w", err)
		}
		return newRelay(h, d, opts), nil
	case config.DeliverSMTP:
		h, err := fixedHop(d, false)
		if err != nil {
			return nil, fmt.Errorf("deliver smtp: %w", err)
		}
		if err := checkTLSPolicy(d, h); err != nil {
			return nil, fmt.Errorf("deliver smtp: %w", err)
		}
		return newRelay(h, d, opts), nil
	case config.DeliverMX:
		if err := checkTLSPolicy(d, hop{network: "tcp"}); err != nil {
			return nil, fmt.Errorf("deliver mx: %w", err)
		}
		resolver := d.Resolver
		if resolver == "" {
			cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
			if err != nil {
				return nil, fmt.Errorf("deliver mx: no resolver configured and %w", err)
			}
			if len(cc.Servers) == 0 {
				return nil, fmt.Errorf("deliver mx: no resolver configured and /etc/resolv.conf lists no nameserver")
			}
			resolver = net.JoinHostPort(cc.Servers[0], cc.Port)
		}
		if _, _, err := net.SplitHostPort(resolver); err != nil {
			return nil, fmt.Errorf("deliver mx: resolver %q: %w", resolver, err)
		}
		port := d.Port
		if port == 0 {
			port = 25
		}
		if port < 0 || port > 65535 {
			return nil, fmt.Errorf("deliver mx: port %d out of range", port)
		}
		return newMX(d, resolver, port, opts), nil
	default:
		return nil, fmt.Errorf("deliver: unknown method %q", d.Method)
	}
}

// fixedHop is the single next hop of an lmtp or smtp block.
func fixedHop(d config.Delivery, lmtp bool) (hop, error) {
	h := hop{network: d.Network, address: d.Address, lmtp: lmtp}
	if h.network == "" {
		h.network = "tcp"
	}
	switch h.network {
	case "tcp":
		host, _, err := net.SplitHostPort(h.address)
		if err != nil {
			return hop{}, fmt.Errorf("address %q: %w", h.address, err)
		}
		h.serverName = host
	case "unix":
		if h.address == "" {
			return hop{}, fmt.Errorf("unix socket path is empty")
		}
	default:
		return hop{}, fmt.Errorf("network %q is neither tcp nor unix", h.network)
	}
	return h, nil
}

// checkTLSPolicy refuses combinations that could never deliver safely.
func checkTLSPolicy(d config.Delivery, h hop) error {
	switch d.TLS {
	case "", config.TLSNone, config.TLSOpportunistic, config.TLSRequired, config.TLSVerify:
	default:
		return fmt.Errorf("unknown tls mode %q", d.TLS)
	}
	if d.TLS == config.TLSVerify && h.network == "unix" {
		return fmt.Errorf("tls verify needs a host name, not a unix socket")
	}
	if d.AuthUser != "" && d.TLS == config.TLSNone && !h.local() && d.Method != config.DeliverMX {
		return fmt.Errorf("auth over a connection without TLS to non-loopback %s would expose the password", h.address)
	}
	if d.AuthUser != "" && d.Method == config.DeliverMX {
		return fmt.Errorf("auth is not supported for mx delivery (credentials would go to any MX host)")
	}
	return nil
}

// DestinationKey names the destination a recipient of rcptDomain goes to
// under d, so that the queue can limit concurrency and retry per destination:
// "smtp:127.0.0.1:2526", "lmtp:unix:/run/x", "maildir:example.org",
// "mx:example.org".
func DestinationKey(d config.Delivery, rcptDomain string) string {
	domain := strings.ToLower(strings.TrimSuffix(rcptDomain, "."))
	switch d.Method {
	case config.DeliverMaildir:
		return "maildir:" + domain
	case config.DeliverLMTP, config.DeliverSMTP:
		if d.Network == "unix" {
			return string(d.Method) + ":unix:" + d.Address
		}
		return string(d.Method) + ":" + d.Address
	default:
		return string(d.Method) + ":" + domain
	}
}
