package main

import (
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
)

// rcptReply opens an SMTP dialog and returns the reply code to RCPT TO:<to>.
func rcptReply(t *testing.T, addr, to string) int {
	t.Helper()
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.ReadResponse(220)
	for _, cmd := range []string{"EHLO e2e.test", "MAIL FROM:<a@example.com>"} {
		c.PrintfLine("%s", cmd)
		if _, _, err := c.ReadResponse(250); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	c.PrintfLine("RCPT TO:<%s>", to)
	code, _, _ := c.ReadResponse(0)
	c.PrintfLine("QUIT")
	return code
}

// TestReloadConfig: SIGHUP swaps in a valid configuration (a new domain is
// served on the same listener and connection limits) and refuses an
// invalid one, keeping the running configuration.
func TestReloadConfig(t *testing.T) {
	dir := t.TempDir()
	listen := relaytest.FreeAddr(t)
	hop := relaytest.FreeAddr(t)
	path := writeConfig(t, dir, relayConfig(listen, "old.test", hop))
	p := startSluice(t, dir, "serve", "-config", path)
	p.waitListening(listen)

	if code := rcptReply(t, listen, "u@new.test"); code != 550 {
		t.Fatalf("before reload: new.test got %d, want 550 (no route)", code)
	}
	writeConfig(t, dir, relayConfig(listen, "new.test", hop))
	p.cmd.Process.Signal(syscall.SIGHUP)
	poll(t, "reload logged", func() bool { return strings.Contains(p.out.String(), "configuration reloaded") })
	if code := rcptReply(t, listen, "u@new.test"); code != 250 {
		t.Errorf("after reload: new.test got %d, want 250", code)
	}
	if code := rcptReply(t, listen, "u@old.test"); code != 550 {
		t.Errorf("after reload: old.test got %d, want 550", code)
	}

	if err := os.WriteFile(path, []byte("domain \"broken\" {\n  no_such_setting = 1\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	poll(t, "refusal logged", func() bool { return strings.Contains(p.out.String(), "reload refused") })
	if !strings.Contains(p.out.String(), "Unsupported argument") {
		t.Errorf("the refusal does not say why:\n%s", p.out.String())
	}
	if code := rcptReply(t, listen, "u@new.test"); code != 250 {
		t.Errorf("after a refused reload: new.test got %d, want 250", code)
	}
	if code := p.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// dialog runs SMTP commands on c, each expecting a reply code, and returns
// the text of the last reply.
func dialog(t *testing.T, c *textproto.Conn, steps ...any) string {
	t.Helper()
	var msg string
	for i := 0; i+1 < len(steps); i += 2 {
		line, want := steps[i].(string), steps[i+1].(int)
		if err := c.PrintfLine("%s", line); err != nil {
			t.Fatal(err)
		}
		code, text, err := c.ReadResponse(want)
		if err != nil {
			t.Fatalf("%.40q: %d %s (%v)", line, code, text, err)
		}
		msg = text
	}
	return msg
}

// TestReloadPlugins: replacing a filter's .wasm file and sending SIGHUP
// compiles the new module; a transaction begun before finishes on the old
// one and one begun after runs the new one. A replacement that is not
// WebAssembly, or a config the plugin refuses at start, is refused with the
// reason logged, and the running filter stays.
func TestReloadPlugins(t *testing.T) {
	dir := t.TempDir()
	// The relay compiles into data/wasm-cache: point it at the compilation
	// cache the tests' in-process hosts share, since a race-built binary
	// takes over 15 s to compile a Go module cold.
	shared := wasmtest.CompileCacheDir()
	if err := os.MkdirAll(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shared, filepath.Join(dir, "data", "wasm-cache")); err != nil {
		t.Fatal(err)
	}
	listen := relaytest.FreeAddr(t)
	tagger, behave := wasmtest.Build(t, "examples/plugin-tagger"), wasmtest.Build(t, "plugin/testdata/behave")
	install := func(src string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f.wasm"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// One config for both modules: the tagger reads domains, behave verdicts.
	conf := func(domains string) string {
		return fmt.Sprintf(`data_dir = "./data"
limits {
  shutdown_grace = "1s"
}
listener "smtp" {
  address = %q
}
filter "f" {
  wasm    = "f.wasm"
  timeout = "30s"
  config  = {
    domains  = %s
    verdicts = { data = { action = "reject", code = 550, enhanced = "5.7.1", text = "new module" } }
  }
}
domain "example.com" {
  filters = ["f"]
  deliver "maildir" {}
}
`, listen, domains)
	}
	install(tagger)
	path := writeConfig(t, dir, conf(`["example.com"]`))
	p := startSluice(t, dir, "serve", "-config", path)
	p.waitListening(listen)
	dial := func() *textproto.Conn {
		c, err := textproto.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, _, err := c.ReadResponse(220); err != nil {
			t.Fatal(err)
		}
		return c
	}
	reloads := func(what string) int { return strings.Count(p.out.String(), what) }
	hup := func(want string) {
		t.Helper()
		n := reloads(want)
		p.cmd.Process.Signal(syscall.SIGHUP)
		poll(t, want, func() bool { return reloads(want) > n })
	}
	newModule := func() {
		t.Helper()
		c := dial()
		dialog(t, c, "EHLO e2e.test", 250, "MAIL FROM:<a@elsewhere.example>", 250, "RCPT TO:<bob@example.com>", 250, "DATA", 354)
		if got := dialog(t, c, "Subject: after\r\n\r\nbody\r\n.", 550); got != "5.7.1 new module" {
			t.Errorf("transaction begun after the reload: %q, want the new module's reject", got)
		}
	}

	before := dial()
	dialog(t, before, "EHLO e2e.test", 250, "MAIL FROM:<a@elsewhere.example>", 250, "RCPT TO:<bob@example.com>", 250)
	install(behave)
	hup("configuration reloaded")
	newModule()
	dialog(t, before, "DATA", 354, "Subject: before\r\n\r\nbody\r\n.", 250)
	var delivered []string
	poll(t, "the old module's message in the maildir", func() bool {
		delivered, _ = filepath.Glob(filepath.Join(dir, "data", "maildir", "example.com", "bob", "new", "*"))
		return len(delivered) == 1
	})
	if b, _ := os.ReadFile(delivered[0]); !strings.Contains(string(b), "\r\nX-Sluice-Outside: yes\r\n") {
		t.Errorf("the transaction begun before the reload was not tagged by the old module:\n%s", b)
	}

	// Not a module: refused, with the reason, and the running filter stays.
	if err := os.WriteFile(filepath.Join(dir, "f.wasm"), []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup("reload refused")
	if out := p.out.String(); !strings.Contains(out, `reason="filter \"f\" (`) || !strings.Contains(out, "not a WebAssembly 1.0 binary module") {
		t.Errorf("the refusal does not name the filter and why:\n%s", out)
	}
	newModule()

	// A config the new module refuses at start (the tagger panics in init).
	install(tagger)
	writeConfig(t, dir, conf(`"example.com"`))
	hup("reload refused")
	if out := p.out.String(); !strings.Contains(out, "_initialize: trap") || !strings.Contains(out, "tagger: bad config") {
		t.Errorf("the refusal does not say why:\n%s", out)
	}
	newModule()
	if code := p.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
