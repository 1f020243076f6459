package pluginconf

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/plugin"
)

// TestBuiltinFiltersRefuseBadConfig: the built-in filters that read their
// config with AtInit (all of them) refuse to load a config they cannot use, logging
// their own reason, so `sluice check-config`, `serve` and a reload report
// it instead of every message failing.
func TestBuiltinFiltersRefuseBadConfig(t *testing.T) {
	for _, tc := range []struct {
		pkg, conf, want string
	}{
		{"plugins/access", `{"deny": {"ips": ["not-an-ip"]}}`, "not-an-ip"},
		{"plugins/access", `{"greylist": {"enabled": true, "delay": -1}}`, "delay"},
		{"plugins/spam", `{"rules": {"NO_SUCH_RULE": 1}}`, "NO_SUCH_RULE"},
		{"plugins/spam", `{"treshold": 5}`, "unknown field"},
		{"plugins/attachlink", `{"max_size": "lots"}`, "max_size"},
		{"plugins/normalize", `{"hostname": "h", "max_size": "1.5MiB"}`, "max_size"},
		{"plugins/rewrite", `{"rulez": []}`, "unknown field"},
		{"plugins/spf-dmarc", `{}`, "authserv_id"},
		{"plugins/virus", `{"acton": "strip"}`, "acton"},
		{"plugins/dkim", `{"keys": [{"domain": "example.com", "selector": "s1", "key": "not a key"}]}`, "keys[0]"},
	} {
		ctx := context.Background()
		var logs strings.Builder
		host, err := plugin.NewHost(ctx, []plugin.FilterSpec{{Name: "f", Wasm: wasmtest.Build(t, tc.pkg), Stages: []string{"data"},
			Timeout: 10 * time.Second, ConfigJSON: []byte(tc.conf)}}, plugin.HostOptions{DataDir: t.TempDir(), CacheDir: wasmtest.CompileCacheDir(),
			Logger: hclog.New(&hclog.LoggerOptions{Output: &logs})})
		if err == nil {
			host.Close(ctx)
			t.Errorf("%s %s: loaded", tc.pkg, tc.conf)
			continue
		}
		if !strings.Contains(err.Error(), "proc_exit 1") || !strings.Contains(logs.String(), "invalid configuration") || !strings.Contains(logs.String(), tc.want) {
			t.Errorf("%s %s: %v; logged %q; want %q", tc.pkg, tc.conf, err, logs.String(), tc.want)
		}
	}
}
