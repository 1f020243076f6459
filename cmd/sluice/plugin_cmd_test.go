package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/wasmtest"
)

func TestPluginTestCommand(t *testing.T) {
	wasm := wasmtest.Build(t, "examples/plugin-tagger")
	dir := t.TempDir()
	eml := filepath.Join(dir, "m.eml")
	os.WriteFile(eml, []byte("From: a@outside.example\r\nSubject: hi\r\n\r\nbody\r\n"), 0o644)
	conf := filepath.Join(dir, "conf.json")
	os.WriteFile(conf, []byte(`{"domains":["example.com"],"reject":["spam@bad.example"]}`), 0o644)
	out := filepath.Join(dir, "out.eml")
	key := filepath.Join(dir, "key.pem")
	if code := run([]string{"dkim", "keygen", "-domain", "example.com", "-selector", "s1", "-type", "ed25519", "-out", key}, nil, io.Discard, io.Discard); code != 0 {
		t.Fatalf("keygen: exit %d", code)
	}

	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"rejected sender", []string{wasm, "-stage", "mail", "-from", "SPAM@bad.example", "-config", "@" + conf}, 3,
			[]string{`"action": "reject"`, `"code": 550`, `"enhanced": "5.7.1"`}},
		{"accepted sender", []string{wasm, "-stage", "mail", "-from", "ok@example.com", "-config", "@" + conf}, 0,
			[]string{`"action": "continue"`}},
		{"outside sender tagged", []string{wasm, "-stage", "data", "-msg", eml, "-from", "a@outside.example", "-rcpt", "b@example.com", "-config", "@" + conf, "-out", out}, 0,
			[]string{`"op": "set"`, `"name": "X-Sluice-Outside"`, `"value": "yes"`}},
		{"inside sender not tagged", []string{wasm, "-stage", "data", "-msg", eml, "-from", "a@example.com", "-config", `{"domains":["example.com"]}`}, 0,
			[]string{`"op": "remove"`}},
		{"stage the plugin lacks", []string{wasm, "-stage", "helo"}, 1, nil},
		{"no message", []string{wasm, "-stage", "data"}, 2, nil},
		{"no file", []string{"-stage", "data"}, 2, nil},
		{"bad config", []string{wasm, "-stage", "mail", "-config", "{"}, 2, nil},
		{"signing key granted", []string{wasm, "-stage", "mail", "-from", "ok@example.com", "-config", "@" + conf, "-grant", "sign", "-signing-key", "example.com/s1=" + key}, 0,
			[]string{`"action": "continue"`}},
		{"bad signing key", []string{wasm, "-stage", "mail", "-grant", "sign", "-signing-key", "example.com/s1=" + eml}, 1, nil},
		{"signing key without file", []string{wasm, "-stage", "mail", "-grant", "sign", "-signing-key", "example.com/s1"}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := pluginTestCommand(tt.args, &stdout, &stderr); code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			for _, s := range tt.contains {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %s:\n%s", s, stdout.String())
				}
			}
			if (tt.code == 0 || tt.code == 3) && !json.Valid(stdout.Bytes()) {
				t.Errorf("stdout is not JSON:\n%s", stdout.String())
			}
		})
	}
	var stderr bytes.Buffer
	if code := pluginTestCommand([]string{"-h"}, io.Discard, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "capability to grant: dns, http, files, socket, blob, sign, relay") ||
		!strings.Contains(stderr.String(), "3 reject; 4 tempfail") {
		t.Errorf("-h: exit %d\n%s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil || string(b) != "From: a@outside.example\r\nSubject: hi\r\nX-Sluice-Outside: yes\r\n\r\nbody\r\n" {
		t.Errorf("rewritten message (%v):\n%q", err, b)
	}
}

// TestPluginTestNamesAndExits: plugin test prints changes under the names
// a result uses (ABI.md section 3.3) and exits 3 on reject, 4 on tempfail.
func TestPluginTestNamesAndExits(t *testing.T) {
	wasm := wasmtest.Build(t, "plugin/testdata/behave")
	eml := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(eml, []byte("From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"), 0o644)
	var stdout, stderr bytes.Buffer
	code := pluginTestCommand([]string{wasm, "-stage", "data", "-msg", eml, "-rcpt", "b@example.com",
		"-config", `{"changes":[{"op":"reroute","name":"b@example.com","value":"paris"}]}`}, &stdout, &stderr)
	var res struct {
		Changes map[string]any `json:"changes"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); code != 0 || err != nil {
		t.Fatalf("exit %d, %v\n%s%s", code, err, stdout.String(), stderr.String())
	}
	if got, _ := json.Marshal(res.Changes); string(got) != `{"reroute":[{"rcpt":"b@example.com","route":"paris"}]}` {
		t.Errorf("changes %s", got)
	}
	for action, want := range map[string]int{"reject": 3, "tempfail": 4, "accept": 0} {
		stdout.Reset()
		code := pluginTestCommand([]string{wasm, "-stage", "mail", "-config", `{"verdicts":{"mail":{"action":"` + action + `"}}}`}, &stdout, io.Discard)
		if code != want || !strings.Contains(stdout.String(), `"action": "`+action+`"`) {
			t.Errorf("%s: exit %d, want %d\n%s", action, code, want, stdout.String())
		}
	}
}
