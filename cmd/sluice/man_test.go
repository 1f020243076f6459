package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPages: `sluice man DIR` writes a page per command of the usage
// text, with the options each command's flag set defines, and groff (when
// installed) reads every page without a warning.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"man", dir}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for cmd := range usageEntries() {
		if cmd == "version" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, manName(cmd)+".8")); err != nil {
			t.Errorf("command %q of the usage has no page: %v", cmd, err)
		}
	}
	for page, want := range map[string][]string{
		"sluice.8":              {".TH SLUICE 8", "sluice\\-serve (8)", "SIGHUP"},
		"sluice-serve.8":        {".SH SYNOPSIS\n.B sluice serve [\\-config FILE]\n", ".BI \"\\-config \" string\nconfiguration file"},
		"sluice-check-config.8": {"\\-plugins\n", "(default true)"},
		"sluice-plugin-test.8":  {".B sluice plugin test FILE.wasm", "\\-stage", "\\-grant"},
		"sluice-queue.8":        {"\\-bounce", "release ID"},
		"sluice-sendmail.8": {".B sluice sendmail [OPTION...] [RECIPIENT...] < MESSAGE\n.br\n.B sendmail [OPTION...]",
			"Exit status as sysexits.h", ".B \\-t\n", ".BI \"\\-f \" address\n", ".BI \"\\-config \" file\n"},
	} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q:\n%s", page, w, b)
			}
		}
		if page == "sluice-plugin-test.8" && strings.Contains(string(b), "sluice plugin check") {
			t.Errorf("%s shows the synopsis of plugin check", page)
		}
		if strings.Contains(string(b), "Options:") || strings.Contains(string(b), "for help") {
			t.Errorf("%s keeps a line meant for the terminal:\n%s", page, b)
		}
	}
	if _, err := exec.LookPath("groff"); err != nil {
		t.Log("groff not installed: pages not rendered")
		return
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "*.8"))
	for _, p := range pages {
		cmd := exec.Command("groff", "-man", "-ww", "-z", p)
		if b, err := cmd.CombinedOutput(); err != nil || len(b) > 0 {
			t.Errorf("groff %s: %v\n%s", filepath.Base(p), err, b)
		}
	}
}
