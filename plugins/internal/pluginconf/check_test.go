package pluginconf

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/plugin"
)

// TestCheckBuiltinPlugins: every built-in filter in plugins/ conforms to ABI
// v1 under the standard events of `sluice plugin check`, with the smallest
// configuration it accepts. (It lives here, beside the other test of every
// built-in, rather than in package plugin: building and loading all of them
// under -race is a large share of a package's 10 minutes on a cold 2-core
// machine, and package plugin has hundreds of hosts of its own to start.)
func TestCheckBuiltinPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every built-in plugin")
	}
	tests := []struct {
		name, config string
	}{
		{"access", `{}`},
		{"spam", `{}`},
		{"virus", `{}`},
		{"rewrite", `{}`},
		{"normalize", `{"hostname":"mx.check.test"}`},
		{"attachlink", `{}`},
		{"dkim", `{"authserv_id":"mx.check.test"}`},
		{"spf-dmarc", `{"authserv_id":"mx.check.test"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := wasmtest.Build(t, "plugins/"+tt.name)
			// A generous per-event timeout: CI machines are slow under -race.
			rep := plugin.Check(context.Background(), wasm, plugin.CheckOptions{ConfigJSON: []byte(tt.config), Timeout: 60 * time.Second})
			if !rep.OK() {
				t.Fatalf("problems:\n%s", strings.Join(rep.Problems, "\n"))
			}
			if rep.ABIVersion != 1 || len(rep.Events) == 0 {
				t.Errorf("version %d, events %v", rep.ABIVersion, rep.Events)
			}
		})
	}
}
