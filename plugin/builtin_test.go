package plugin

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/internal/wasmtest"
)

// TestBuiltinFilter: a filter block with `builtin` gets its module from
// HostOptions.Builtins (here the tests' shared build of plugins/spam, not a
// rebuild) and runs like any plugin: the spam filter marks a message.
func TestBuiltinFilter(t *testing.T) {
	var asked []string
	logs := &logBuffer{}
	dir := t.TempDir()
	shareCompilationCache(t, dir)
	h, err := NewHost(context.Background(), []FilterSpec{{
		Name: "antispam", Builtin: "spam", Timeout: 30e9, MemoryBytes: 64 << 20,
		ConfigJSON: []byte(`{"default":{"tag":-100}}`), // every message is tagged
	}}, HostOptions{
		DataDir: dir,
		Logger:  hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info}),
		Builtins: func(name string, _ hclog.Logger) ([]byte, error) {
			asked = append(asked, name)
			return os.ReadFile(wasmtest.Build(t, "plugins/"+name))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if len(asked) != 1 || asked[0] != "spam" {
		t.Errorf("modules asked for: %q", asked)
	}
	for _, want := range []string{`loading filter: filter=antispam module="builtin spam"`, "filter loaded: filter=antispam took="} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	c, err := h.Chain([]string{"antispam"})
	if err != nil {
		t.Fatal(err)
	}
	v, ch := c.Data(context.Background(), testTxn(), testMessage(t, simpleMsg))
	if v.Action != Continue {
		t.Fatalf("verdict %+v", v)
	}
	var names []string
	for _, hc := range ch.Headers {
		names = append(names, hc.Name)
	}
	if !strings.Contains(strings.Join(names, " "), "X-Spam-Status") {
		t.Errorf("header changes %q, want X-Spam-Status among them", names)
	}
}

// TestBuiltinUnknown: a name no built-in has fails the load, naming it.
func TestBuiltinUnknown(t *testing.T) {
	_, err := NewHost(context.Background(), []FilterSpec{{Name: "x", Builtin: "nope"}}, HostOptions{})
	if err == nil || !strings.Contains(err.Error(), `filter "x" (builtin nope): no built-in filter is named "nope"`) {
		t.Fatalf("err = %v", err)
	}
}
