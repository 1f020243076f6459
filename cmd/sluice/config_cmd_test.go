package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigArgs: the file is given as an argument or, as serve and
// the other commands take it, with -config.
func TestCheckConfigArgs(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sluice.hcl")
	conf := "data_dir = \"" + t.TempDir() + "\"\nlistener \"smtp\" {\n  address = \"127.0.0.1:0\"\n}\n" +
		"domain \"example.com\" {\n  deliver \"maildir\" {}\n}\n"
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{file}, {"-config", file}, {"-plugins=false", "-config", file}} {
		code, out, errs := sluice(t, append([]string{"check-config"}, args...)...)
		if code != 0 || !strings.HasPrefix(out, file+": OK\n") {
			t.Errorf("check-config %q: exit %d\n%s%s", args, code, out, errs)
		}
	}
	for _, args := range [][]string{{}, {"-config", file, file}, {file, file}} {
		if code, _, errs := sluice(t, append([]string{"check-config"}, args...)...); code != 2 || !strings.Contains(errs, "usage:") {
			t.Errorf("check-config %q: exit %d, want 2 with the usage\n%s", args, code, errs)
		}
	}
}

// TestCheckConfigPackaged: the configuration the Debian package installs
// (built-in filters by name) passes check-config, without a warning: it
// holds no secret, its secrets are the package's files in /etc/sluice/
// secrets (here packaging/secrets). Loading its filters is
// packaging/check-deb.sh's part, with the release binary.
func TestCheckConfigPackaged(t *testing.T) {
	pkg, err := filepath.Abs(filepath.Join("..", "..", "packaging"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(pkg, "sluice.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "sluice.hcl")
	if err := os.WriteFile(file, bytes.ReplaceAll(src, []byte("/etc/sluice/"), []byte(pkg+"/")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := sluice(t, "check-config", "-plugins=false", file)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"builtin=access", "builtin=spam", "lmtp unix /run/dovecot/lmtp",
		"smtp tcp smtp.provider.example:587 tls=required auth_user=mx@example.com password_file=" + pkg + "/secrets/smarthost-password",
		"users_file           " + pkg + "/secrets/users", "listener=smtp (tcp 127.0.0.1:25) origin=example.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
