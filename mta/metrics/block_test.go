package metrics

import (
	"testing"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/deliver"
	"github.com/sluice-mail/sluice/mta/queue"
	"github.com/sluice-mail/sluice/mta/routing"
)

func table(t *testing.T, domains string) *routing.Table {
	t.Helper()
	dir := t.TempDir()
	cfg, diags := config.Parse([]byte(`
data_dir = "`+dir+`"
listener "smtp" { address = "127.0.0.1:0" }
`+domains), "test.hcl", dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	tab, err := routing.New(cfg, deliver.Options{Hostname: "relay.test", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tab.Close() })
	return tab
}

// TestBlockName checks that the domain label is always a configured
// block's name: a recipient's own domain never leaks into it, whatever
// the address or a filter's reroute says.
func TestBlockName(t *testing.T) {
	withCatchAll := table(t, `
domain "a.test" {
  deliver "maildir" {}
}
domain "b.test" {
  deliver "maildir" {}
}
domain "*" {
  deliver "mx" {}
}
`)
	without := table(t, `
domain "a.test" {
  deliver "maildir" {}
}
`)
	for _, c := range []struct {
		tab         *routing.Table
		addr, route string
		want        string
	}{
		{withCatchAll, "u@a.test", "", "a.test"},
		{withCatchAll, "u@A.Test.", "", "a.test"},
		{withCatchAll, "u@random-1234.example", "", "*"},
		{withCatchAll, "u@a.test", "b.test", "b.test"},
		{withCatchAll, "u@a.test", "*", "*"},
		{withCatchAll, "u@a.test", "made-up.example", "none"},
		{without, "u@elsewhere.example", "", "none"},
		{without, "u@a.test", "*", "none"},
		{nil, "u@a.test", "", "none"},
	} {
		if got := blockName(c.tab, queue.Outcome{Addr: c.addr, Route: c.route}); got != c.want {
			t.Errorf("blockName(%q, route %q) = %q, want %q", c.addr, c.route, got, c.want)
		}
	}
}
