package config

import (
	"slices"
	"testing"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// TestFilterGrantLimits: dns_zones are kept as lower-case A-labels without
// the root dot; the blob quotas default when granted and stay 0 otherwise.
func TestFilterGrantLimits(t *testing.T) {
	src := `
listener "smtp" { address = "127.0.0.1:2525" }
links { listen = "127.0.0.1:8025" }
filter "a" {
  wasm      = "a.wasm"
  grants    = ["dns", "blob"]
  dns_zones = ["Bücher.Example.", "ZEN.spamhaus.org", "_domainkey.example.com"]
  blob_message_quota = "1MiB"
}
filter "b" {
  wasm   = "b.wasm"
  grants = ["blob"]
}
filter "c" { wasm = "c.wasm" }
domain "localhost" {
  deliver "maildir" {}
}
`
	c, diags := Parse([]byte(src), "t.hcl", t.TempDir())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	a, b, cf := c.Filters[0], c.Filters[1], c.Filters[2]
	if want := []string{"xn--bcher-kva.example", "zen.spamhaus.org", "_domainkey.example.com"}; !slices.Equal(a.DNSZones, want) {
		t.Errorf("dns_zones = %q, want %q", a.DNSZones, want)
	}
	if a.BlobQuota != abi.DefaultBlobQuota || a.BlobMessageQuota != 1<<20 {
		t.Errorf("a: quotas %d, %d", a.BlobQuota, a.BlobMessageQuota)
	}
	if b.BlobQuota != abi.DefaultBlobQuota || b.BlobMessageQuota != abi.DefaultBlobMessageQuota || b.DNSZones != nil {
		t.Errorf("b: quotas %d, %d, zones %q", b.BlobQuota, b.BlobMessageQuota, b.DNSZones)
	}
	if cf.BlobQuota != 0 || cf.BlobMessageQuota != 0 {
		t.Errorf("c: quotas %d, %d without the grant", cf.BlobQuota, cf.BlobMessageQuota)
	}
}
