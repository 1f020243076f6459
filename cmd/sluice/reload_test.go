package main

import (
	"net/textproto"
	"os"
	"strings"
	"syscall"
	"testing"
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
	listen := freePort(t)
	hop := freePort(t)
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
