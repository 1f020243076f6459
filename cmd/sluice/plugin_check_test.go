package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/wasmtest"
)

func TestPluginCheckCommand(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := pluginCommand(append([]string{"check"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	tagger := wasmtest.Build(t, "examples/plugin-tagger")
	code, out, errs := run(tagger, "-config", `{"domains":["example.org"]}`)
	if code != 0 || !strings.Contains(out, "ABI version: 1\n  stages: mail, data\n") || !strings.HasSuffix(out, "OK: the plugin conforms to ABI v1\n") {
		t.Errorf("tagger: exit %d\n%s%s", code, out, errs)
	}

	broken := wasmtest.Build(t, "plugin/testdata/broken/abi2")
	code, out, _ = run(broken)
	if code != 1 || !strings.Contains(out, "FAILED: 1 problem(s)\n  - plugin speaks ABI version 2; this sluice supports version 1\n") ||
		!strings.Contains(out, "-v shows the plugin's own log lines") {
		t.Errorf("broken: exit %d\n%s", code, out)
	}
	// With -v the plugin's own output is there: the tagger's panic on a
	// config it cannot read says why it refused to load.
	code, out, errs = run(tagger, "-v", "-config", `{"domains":"example.org"}`)
	if code != 1 || !strings.Contains(out, "_initialize: trap") || !strings.Contains(errs, "tagger: bad config") || strings.Contains(out, "-v shows") {
		t.Errorf("bad tagger config with -v: exit %d\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, _ = run(broken, "-json")
	var rep struct{ Problems []string }
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil || len(rep.Problems) != 1 {
		t.Errorf("broken -json: exit %d, %v\n%s", code, err, out)
	}

	if code, _, errs := run(); code != 2 || !strings.Contains(errs, "usage: sluice plugin check") {
		t.Errorf("no file: exit %d %q", code, errs)
	}
	if code, _, errs := run(tagger, "-config", "{not json"); code != 2 || !strings.Contains(errs, "not valid JSON") {
		t.Errorf("bad config: exit %d %q", code, errs)
	}
	if code, _, errs := pluginCommand([]string{"frobnicate"}, &bytes.Buffer{}, &bytes.Buffer{}), "", ""; code != 2 {
		t.Errorf("unknown subcommand: exit %d %q", code, errs)
	}
}
