// Package config loads and validates sluice's HCL configuration.
//
// The file is decoded with HCL's own schema machinery so that every error,
// including an unknown block or attribute, carries file:line:column.
package config

import (
	"net/netip"
	"os"
	"time"
)

// Config is the whole, validated configuration of one sluice process.
// All paths in it are absolute or relative to the process working directory;
// relative paths written in a config file are resolved against that file's directory.
type Config struct {
	// Hostname is this relay's name in the greeting, the Received header and bounces.
	Hostname string
	// DataDir holds the queue, the generated TLS certificate, Maildirs by default and plugin state.
	DataDir string

	Log    Log
	TLS    TLS
	Limits Limits
	Queue  Queue

	// TrustedNetworks may relay to any domain without AUTH.
	TrustedNetworks []netip.Prefix

	Listeners []Listener
	// Users are the user blocks' and then users_file's.
	Users []User
	// UsersFile is users_file ("" when not set); LoadPublic does not read it.
	UsersFile string
	// Domains served or routed by this relay, in file order. The catch-all,
	// if any, has Name "*" and applies only to mail that may be relayed.
	Domains []Domain
	// Filters are the plugin definitions that domains name in their chains.
	Filters []Filter

	// Links, when set, stores the objects of filters granted "blob" and
	// serves them over HTTP (nil: no links block).
	Links *Links

	// Sendmail, when set, says how `sluice sendmail` submits local mail
	// (nil: no sendmail block; see LocalSubmission).
	Sendmail *Sendmail

	// PprofListen, if not empty, is a loopback host:port where an HTTP
	// server offers Go's runtime profiles (net/http/pprof), for profiling
	// under load. Off by default.
	PprofListen string
	// MetricsListen, if not empty, is a host:port where an HTTP server
	// offers the filters' metrics in the Prometheus text format at
	// /metrics. Off by default.
	MetricsListen string

	// Source is the file name the configuration came from ("<embedded default>" for the default).
	Source string
}

// Log says how sluice writes its log.
type Log struct {
	Level  string // trace, debug, info, warn, error
	Format string // text or json
}

// TLS is the server certificate. When both are empty, a self-signed
// certificate is generated once into DataDir.
type TLS struct {
	CertFile string
	KeyFile  string
}

// Limits are protocol limits shared by all listeners.
type Limits struct {
	MaxConnections      int
	MaxConnectionsPerIP int
	ReadTimeout         time.Duration
	WriteTimeout        time.Duration
	MaxLineLength       int
	MaxHeaderBytes      int64
	MaxMessageBytes     int64 // default for domains that set none; also the advertised SIZE
	MaxRecipients       int   // per transaction
	ShutdownGrace       time.Duration
	// DataTimeout bounds the time one message's data (DATA to its final
	// dot, BDAT from the first chunk to LAST) may take, extended by one
	// second for every MinDataRate bytes received (0: no extension).
	DataTimeout time.Duration
	MinDataRate int64
	// Wrong passwords: each waits AuthFailureDelay; the MaxAuthFailures-th
	// on one connection closes it; a client address has a budget of
	// MaxAuthFailuresPerIPPerHour across its connections.
	AuthFailureDelay            time.Duration
	MaxAuthFailures             int
	MaxAuthFailuresPerIPPerHour int
	// MessagesPerIPPerMinute and MessagesPerUserPerMinute cap accepted
	// transactions per client address and per authenticated user (0: off).
	MessagesPerIPPerMinute   int
	MessagesPerUserPerMinute int
}

// Queue tunes delivery.
type Queue struct {
	// ConcurrencyPerDestination caps parallel deliveries to one destination
	// (one next hop, LMTP target, Maildir domain or MX domain).
	ConcurrencyPerDestination int
	// RetryMin and RetryMax bound the exponential retry delay; GiveUpAfter
	// ends a message. They are the defaults of domain blocks that set none.
	RetryMin    time.Duration
	RetryMax    time.Duration
	GiveUpAfter time.Duration
	// DelayWarning is the age at which the sender of a message still
	// queued is told so, once (a "delayed" DSN).
	DelayWarning time.Duration
	// MaxDeliveries caps delivery attempts in flight across all destinations.
	MaxDeliveries int
	// MaxMessages refuses new mail (452 at MAIL) while the queue holds this
	// many messages (0: no limit); MinFreeDisk does so while the data
	// directory's file system has less free space.
	MaxMessages int
	MinFreeDisk int64
}

// ListenerKind is what a listener speaks.
type ListenerKind string

const (
	KindSMTP       ListenerKind = "smtp"       // MX-style inbound, STARTTLS offered
	KindSubmission ListenerKind = "submission" // AUTH required, only over TLS (STARTTLS)
	KindSMTPS      ListenerKind = "smtps"      // implicit TLS, AUTH
	KindLMTP       ListenerKind = "lmtp"       // RFC 2033, TCP or unix socket
)

// Listener is one socket sluice accepts mail on.
type Listener struct {
	Name    string       // block label
	Kind    ListenerKind // from the "kind" attribute, defaulting to the label when it is a kind
	Network string       // "tcp" or "unix"
	Address string       // host:port or socket path ("unix:/path" in the file)
	// STARTTLS (RFC 3207) is offered on smtp, submission and lmtp unless
	// disabled; it is always false on smtps, whose TLS is implicit.
	STARTTLS bool
	// InsecureAuth offers AUTH without TLS (for loopback or unix-socket
	// listeners whose path is already private). Off by default.
	InsecureAuth bool
	// SocketMode is a unix socket's permission bits (default 0660): a
	// local client may relay to any domain, so the socket's mode, owner
	// and group decide who may.
	SocketMode os.FileMode
}

// User may authenticate with AUTH PLAIN or LOGIN.
type User struct {
	Name         string
	PasswordHash string // bcrypt
}

// DeliveryMethod is how a domain's mail leaves sluice.
type DeliveryMethod string

const (
	DeliverMaildir DeliveryMethod = "maildir"
	DeliverLMTP    DeliveryMethod = "lmtp"
	DeliverSMTP    DeliveryMethod = "smtp"
	DeliverMX      DeliveryMethod = "mx"
)

// TLSMode is the outbound TLS policy.
type TLSMode string

const (
	TLSNone          TLSMode = "none"
	TLSOpportunistic TLSMode = "opportunistic"
	TLSRequired      TLSMode = "required" // STARTTLS must be offered; certificate not verified
	TLSVerify        TLSMode = "verify"   // STARTTLS and a certificate valid for the host
)

// Domain is one `domain "name" { ... }` block.
type Domain struct {
	Name string // lower-case domain, or "*" for the catch-all

	Deliver Delivery

	MaxMessageBytes int64 // 0: Limits.MaxMessageBytes
	MaxRecipients   int   // 0: Limits.MaxRecipients

	// The retry schedule of this domain's recipients; 0: the queue
	// block's (see Config.Schedule).
	RetryMin, RetryMax, GiveUpAfter time.Duration

	// Filters names the filter chain, in order (empty until plugins are configured).
	Filters []string
}

// Delivery is a domain's `deliver "method" { ... }` block.
type Delivery struct {
	Method DeliveryMethod

	// maildir: Path is a template in which {domain} and {local} are replaced
	// per recipient. {data_dir} is already replaced by DataDir when loading
	// (replacing it again is harmless).
	Path string

	// lmtp and smtp: Network is "tcp" or "unix"; Address host:port or socket path.
	Network string
	Address string

	// smtp and mx.
	TLS          TLSMode
	AuthUser     string
	AuthPassword string
	// AuthPasswordFile is the file AuthPassword was read from, when
	// auth_password_file gave it (LoadPublic leaves AuthPassword empty).
	AuthPasswordFile string

	// mx: Resolver is the DNS server host:port used for MX lookups ("" = system
	// resolver); a bare IP address in the file gets port 53.
	Resolver string
	// Port is the port MX hosts are contacted on (25 unless set, for tests).
	Port int
}

// Filter is one `filter "name" { ... }` block: a Wasm plugin and its limits.
type Filter struct {
	Name string
	// Wasm is the module's file; Builtin names a filter that ships with
	// sluice (plugin/builtin) instead. Exactly one of them is set.
	Wasm    string
	Builtin string
	// Stages limits the filter to these FilterStages; empty means every stage
	// the plugin declares it handles.
	Stages      []string
	Timeout     time.Duration
	MemoryBytes int64
	OnError     string // tempfail (default), continue, reject
	// ConfigJSON is the filter's `config = { ... }` object encoded as JSON for
	// the plugin; "{}" when the block has no config.
	ConfigJSON []byte
	// Grants are the capabilities the operator gives the plugin, among FilterGrants:
	// "dns" (A, AAAA, TXT, MX and PTR lookups), "http" (calls to HTTPEndpoint).
	Grants []string
	// Files are the absolute paths the plugin may read when granted "files".
	Files []string
	// SocketEndpoint is the one stream socket the plugin may call when granted
	// "socket": "unix:/path" or "host:port".
	SocketEndpoint string
	// HTTPEndpoint is the one URL the plugin may call when granted "http".
	HTTPEndpoint string
	// SigningKeys are the private keys the host signs with on the plugin's
	// behalf when granted "sign", sorted by name. The host reads and checks
	// the files when it starts (and at each reload); the keys never enter
	// the sandbox.
	SigningKeys []SigningKey
	// Resolver is the DNS server (host:port) that answers the "dns" grant's
	// lookups; "" = the system resolver. A bare IP address in the file gets port 53.
	Resolver string
	// DNSZones, when set, are the only zones the "dns" grant may look up
	// names in (a name is in a zone when it is the zone or ends with "." and
	// the zone): lower case, A-labels, no trailing dot. Empty: any name.
	DNSZones []string
	// BlobQuota bounds the bytes of the objects the filter stored with the
	// "blob" grant that have not expired yet; BlobMessageQuota the bytes it
	// may store while handling one message (one event). Set (to
	// abi.DefaultBlobQuota and abi.DefaultBlobMessageQuota if the file does
	// not) when granted "blob"; 0 without the grant.
	BlobQuota, BlobMessageQuota int64
}

// Module says where the filter's module comes from, for messages: its file,
// or "builtin NAME".
func (f Filter) Module() string {
	if f.Builtin != "" {
		return "builtin " + f.Builtin
	}
	return f.Wasm
}

// SigningKey is one entry of a filter's signing_keys: a name the plugin
// uses (the dkim filter wants "domain/selector") and a PEM private key file.
type SigningKey struct {
	Name string
	Path string
}

// DefaultHostname is used when the file sets none and os.Hostname fails.
const DefaultHostname = "localhost"
