package config

import (
	"strings"
	"testing"
)

func TestMetricsListen(t *testing.T) {
	const base = `
listener "smtp" { address = "127.0.0.1:2525" }
domain "localhost" {
  deliver "maildir" {}
}
`
	for _, tc := range []struct {
		value, want, err string
	}{
		{"", "", ""},
		{`metrics_listen = "127.0.0.1:9325"`, "127.0.0.1:9325", ""},
		{`metrics_listen = "0.0.0.0:9325"`, "0.0.0.0:9325", ""}, // any address: Prometheus scrapes from elsewhere
		{`metrics_listen = "unix:/tmp/m.sock"`, "", "unix socket"},
		{`metrics_listen = "127.0.0.1"`, "", "metrics_listen"},
	} {
		c, diags := Parse([]byte(tc.value+"\n"+base), "test.hcl", t.TempDir())
		if tc.err != "" {
			if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.err) {
				t.Errorf("%s: diagnostics %v, want an error with %q", tc.value, diags, tc.err)
			}
			continue
		}
		if diags.HasErrors() {
			t.Errorf("%s: %v", tc.value, diags)
			continue
		}
		if c.MetricsListen != tc.want {
			t.Errorf("%s: MetricsListen = %q, want %q", tc.value, c.MetricsListen, tc.want)
		}
	}
}
