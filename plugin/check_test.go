package plugin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/wasmtest"
)

// TestCheckGoodPlugins: the SDK's plugins, the Go example and the Rust
// example (written from ABI.md alone) conform.
func TestCheckGoodPlugins(t *testing.T) {
	tests := []struct {
		name   string
		wasm   func(t *testing.T) string
		config string
		stages []string
	}{
		{"pass", func(t *testing.T) string { return wasmtest.Build(t, "plugin/testdata/pass") }, "", []string{"mail", "data"}},
		{"behave", func(t *testing.T) string { return wasmtest.Build(t, "plugin/testdata/behave") }, `{}`,
			[]string{"connect", "helo", "auth", "mail", "rcpt", "data", "delivered"}},
		{"tagger", func(t *testing.T) string { return wasmtest.Build(t, "examples/plugin-tagger") },
			`{"domains":["example.org"],"reject":["spam@bad.example"]}`, []string{"mail", "data"}},
		{"rust rules", func(t *testing.T) string { return wasmtest.BuildScript(t, "examples/rust-filter/build.sh") },
			`{"rules":[{"name":"w","match":"body","contains":"wire transfer","action":"tag"},` +
				`{"name":"s","match":"header:Subject","contains":"caf","action":"tag"},` +
				`{"name":"b","match":"sender","contains":"@bad.example","action":"reject"}]}`, []string{"mail", "data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A generous per-event timeout: CI machines are slow under -race.
			rep := Check(context.Background(), tt.wasm(t), CheckOptions{ConfigJSON: []byte(tt.config), Timeout: 60 * time.Second})
			if !rep.OK() {
				t.Fatalf("problems:\n%s", strings.Join(rep.Problems, "\n"))
			}
			if rep.ABIVersion != 1 || strings.Join(rep.Stages, ",") != strings.Join(tt.stages, ",") {
				t.Errorf("version %d stages %v, want 1 %v", rep.ABIVersion, rep.Stages, tt.stages)
			}
			if len(rep.Events) < 2 || !strings.Contains(strings.Join(rep.Events, "\n"), "mail stage, null sender") {
				t.Errorf("events run: %v", rep.Events)
			}
		})
	}
}

// TestCheckBrokenPlugins: each deliberately broken module fails with the
// problems it has, each named, and no others.
func TestCheckBrokenPlugins(t *testing.T) {
	tests := []struct {
		name string
		wasm func(t *testing.T) string
		want []string // one substring per expected problem, in order
	}{
		{"wrong ABI version", func(t *testing.T) string { return wasmtest.Build(t, "plugin/testdata/broken/abi2") },
			[]string{"plugin speaks ABI version 2; this sluice supports version 1"}},
		{"bad shape", func(t *testing.T) string { return wasmtest.Build(t, "plugin/testdata/broken/badshape") }, []string{
			"missing export sluice_on_event (i32, i32) -> (i64)",
			"imports sluice.config_read with signature (i32, i64) -> (i32); the host's is (i32, i32) -> (i32)",
			`imports env.getenv: only the modules "sluice" and "wasi_snapshot_preview1" exist`,
		}},
		{"malformed verdicts", func(t *testing.T) string { return wasmtest.Build(t, "plugin/testdata/broken/verdict") }, []string{
			"mail stage, ordinary sender with parameters: reject with reply code 250 (want 5xx) (invalid)",
			"mail stage, null sender: reject with reply code 250",
			"mail stage, SMTPUTF8 sender: reject with reply code 250",
			`rcpt stage, first recipient: unknown action "maybe" (invalid)`,
			`rcpt stage, 1000th recipient with DSN parameters: unknown action "maybe"`,
			"data stage, empty body: reply text contains byte 0xd",
			"data stage, no header at all: reply text",
			"data stage, odd header encodings: reply text",
			"data stage, nested MIME: reply text",
			"data stage, 8 MiB body: reply text",
			"data stage, 1000 recipients: reply text",
			"data stage, bounce from the null sender: reply text",
		}},
		{"oversized change", func(t *testing.T) string { return wasmtest.Build(t, "plugin/testdata/broken/oversized") }, []string{
			"data stage, 8 MiB body: invalid changes: header X-Size: value longer than 16384 bytes (invalid)",
		}},
		{"result outside memory", func(t *testing.T) string {
			return handmade{version: 1, stages: 1, resultPtr: 65000, resultLen: 1000}.file(t)
		}, []string{
			"connect stage, IPv4, no TLS: invalid output: result (0xfde8, 1000) lies outside guest memory (invalid)",
			"connect stage, IPv6, TLS 1.3: invalid output",
		}},
		{"command module", func(t *testing.T) string { return handmade{version: 1, stages: 1, exportStart: true}.file(t) },
			[]string{"exports _start: a WASI command (program), not a reactor (library); build a reactor (C: -mexec-model=reactor"}},
		{"not wasm", func(t *testing.T) string { return writeTemp(t, "not wasm") }, []string{"not a valid WebAssembly module"}},
		// 40 bytes that made wazero allocate 3 GB while reading the shape.
		{"declares more than it holds", func(t *testing.T) string { return writeTemp(t, hostileSizes) }, []string{"section 4: declares"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Check(context.Background(), tt.wasm(t), CheckOptions{})
			if rep.OK() {
				t.Fatal("a broken plugin passed")
			}
			if len(rep.Problems) != len(tt.want) {
				t.Errorf("%d problems, want %d:\n%s", len(rep.Problems), len(tt.want), strings.Join(rep.Problems, "\n"))
			}
			for i, w := range tt.want {
				if i >= len(rep.Problems) || !strings.Contains(rep.Problems[i], w) {
					t.Errorf("problem %d does not mention %q:\n%s", i, w, strings.Join(rep.Problems, "\n"))
				}
			}
		})
	}
}

// hostileSizes declares a table section of ~2^28 entries in 13 bytes.
const hostileSizes = "\x00asm\x01\x00\x00\x00\x04\r\xff\xff\xff0000000000\x05\x1d00@00000000000000000000000000"
