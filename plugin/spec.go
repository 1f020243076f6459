package plugin

import "time"

// FilterSpec is one filter as the host runs it: its module, stages,
// limits, configuration and grants. The relay's configuration maps each
// filter block to one (mta/relay.FilterSpecs); `sluice plugin test` and
// `plugin check` fill one in from their flags. The host checks what it
// relies on (on_error, the settings each grant needs) and applies the
// defaults of what is left zero.
type FilterSpec struct {
	Name string
	// Wasm is the module's file; Builtin names a filter that ships with
	// sluice (plugin/builtin) instead. Exactly one of them is set.
	Wasm    string
	Builtin string
	// Stages limits the filter to these stages (abi.Stage names); empty
	// means every stage the plugin declares it handles.
	Stages []string
	// Timeout bounds one event; 0: DefaultTimeout. MemoryBytes bounds the
	// linear memory; 0: DefaultMemoryBytes.
	Timeout     time.Duration
	MemoryBytes int64
	OnError     string // tempfail (""), continue, reject
	// ConfigJSON is the plugin's configuration as JSON, what config_read
	// answers; empty: "{}".
	ConfigJSON []byte
	// Grants are the capabilities the operator gives the plugin, among
	// Grants.
	Grants []string
	// Files are the absolute paths the plugin may read when granted "files".
	Files []string
	// SocketEndpoint is the one stream socket the plugin may call when
	// granted "socket": "unix:/path" or "host:port".
	SocketEndpoint string
	// HTTPEndpoint is the one URL the plugin may call when granted "http".
	HTTPEndpoint string
	// SigningKeys are the private keys the host signs with on the plugin's
	// behalf when granted "sign". The host reads and checks the files in
	// NewHost; the keys never enter the sandbox.
	SigningKeys []SigningKey
	// Resolver is the DNS server (host:port) that answers the "dns" grant's
	// lookups; "": HostOptions.Resolver.
	Resolver string
	// DNSZones, when set, are the only zones the "dns" grant may look up
	// names in (a name is in a zone when it is the zone or ends with "."
	// and the zone); the host compares them as sdk/dnsname writes them.
	// Empty: any name.
	DNSZones []string
	// BlobQuota bounds the bytes of the objects the filter stored with the
	// "blob" grant that have not expired yet, BlobMessageQuota the bytes it
	// may store while handling one event; 0: abi.DefaultBlobQuota and
	// abi.DefaultBlobMessageQuota.
	BlobQuota, BlobMessageQuota int64
}

// Module says where the filter's module comes from, for messages: its
// file, or "builtin NAME".
func (f FilterSpec) Module() string {
	if f.Builtin != "" {
		return "builtin " + f.Builtin
	}
	return f.Wasm
}

// SigningKey is one key of the "sign" grant: the name the plugin uses
// (the dkim filter wants "domain/selector") and a PEM private key file.
type SigningKey struct {
	Name string
	Path string
}
