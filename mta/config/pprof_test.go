package config

import (
	"strings"
	"testing"
)

func TestPprofListen(t *testing.T) {
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
		{`pprof_listen = "127.0.0.1:6060"`, "127.0.0.1:6060", ""},
		{`pprof_listen = "[::1]:6060"`, "[::1]:6060", ""},
		{`pprof_listen = "localhost:6060"`, "localhost:6060", ""},
		{`pprof_listen = "0.0.0.0:6060"`, "", "loopback"},
		{`pprof_listen = ":6060"`, "", "loopback"},
		{`pprof_listen = "192.0.2.1:6060"`, "", "loopback"},
		{`pprof_listen = "unix:/tmp/pprof.sock"`, "", "unix socket"},
		{`pprof_listen = "127.0.0.1"`, "", "host:port"},
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
		if c.PprofListen != tc.want {
			t.Errorf("%s: PprofListen = %q, want %q", tc.value, c.PprofListen, tc.want)
		}
	}
}
