package relay

import (
	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/plugin"
)

// FilterSpecs maps the configuration's filter blocks to the plugin host's
// specs, field for field: the one place where the HCL side meets the
// host, which knows nothing of the relay's configuration.
func FilterSpecs(filters []config.Filter) []plugin.FilterSpec {
	specs := make([]plugin.FilterSpec, 0, len(filters))
	for _, f := range filters {
		var keys []plugin.SigningKey
		for _, k := range f.SigningKeys {
			keys = append(keys, plugin.SigningKey{Name: k.Name, Path: k.Path})
		}
		specs = append(specs, plugin.FilterSpec{
			Name:             f.Name,
			Wasm:             f.Wasm,
			Builtin:          f.Builtin,
			Stages:           f.Stages,
			Timeout:          f.Timeout,
			MemoryBytes:      f.MemoryBytes,
			OnError:          f.OnError,
			ConfigJSON:       f.ConfigJSON,
			Grants:           f.Grants,
			Files:            f.Files,
			SocketEndpoint:   f.SocketEndpoint,
			HTTPEndpoint:     f.HTTPEndpoint,
			SigningKeys:      keys,
			Resolver:         f.Resolver,
			DNSZones:         f.DNSZones,
			BlobQuota:        f.BlobQuota,
			BlobMessageQuota: f.BlobMessageQuota,
		})
	}
	return specs
}
