package main

import "testing"

func TestParseConfig(t *testing.T) {
	// The README's example.
	c, err := parseConfig([]byte(`{"signatures": ["/var/lib/sluice/sigs/local.ndb"], "action": "strip",
		"limits": {"max_total": "100MiB"}, "attachments": {"macro": "quarantine"},
		"clamd": {"mode": "also", "timeout": "20s", "on_error": "tempfail"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Action != "strip" || c.Attachments.Macro != "quarantine" || c.Attachments.Executable != "reject" || c.Clamd.Mode != "also" {
		t.Errorf("parsed %+v", c)
	}
	// A misspelt key, at the top or inside a block, is refused, not ignored,
	// as are values out of range.
	for _, bad := range []string{
		`{"acton": "strip"}`,
		`{"clamd": {"mod": "also"}}`,
		`{"attachments": {"macros": "reject"}}`,
		`{"action": "delete"}`,
		`{"signatures": ["/x/main.cvd"]}`,
	} {
		if _, err := parseConfig([]byte(bad)); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
}
