package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
	// data_dir too: check-config checks that it can write there.
	src = bytes.ReplaceAll(src, []byte(`"/var/lib/sluice"`), []byte(strconv.Quote(t.TempDir())))
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

// TestCheckConfigHost: check-config fails, naming the attribute, for
// what loads but cannot work on this host (issue 21, item 4): a data_dir
// or a Maildir base running through a regular file, a data_dir it cannot
// write, a tls cert or key it cannot read. Each is its own case; the good
// setup passes.
func TestCheckConfigHost(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good")
	conf := func(dataDir, maildir, tls string) string {
		return fmt.Sprintf("data_dir = %q\nlistener \"smtp\" {\n  address = \"127.0.0.1:0\"\n}\n%s"+
			"domain \"example.com\" {\n  deliver \"maildir\" {\n    path = %q\n  }\n}\n", dataDir, tls, maildir)
	}
	okMaildir := "{data_dir}/maildir/{domain}/{local}"
	cases := []struct {
		name, conf, want string
		skip             bool
	}{
		{"good", conf(filepath.Join(good, "new", "data"), okMaildir, ""), "", false},
		{"data_dir through a file", conf(filepath.Join(regular, "data"), "/var/mail/{local}", ""), `data_dir ".*/regular/data": stat .*: not a directory`, false},
		{"data_dir a file", conf(regular, "/var/mail/{local}", ""), `data_dir ".*/regular": .*/regular is not a directory`, false},
		// root writes anywhere: this case is for CI runs as a user.
		{"data_dir read-only", conf(filepath.Join(readOnly, "data"), "/var/mail/{local}", ""), `data_dir ".*/ro/data": not writable: .*permission denied`, os.Geteuid() == 0},
		{"maildir through a file", conf(good, regular+"/{domain}/{local}", ""), `domain "example.com": deliver "maildir" path ".*/regular/\{domain\}/\{local\}": .*/regular is not a directory`, false},
		{"maildir below a file", conf(good, regular+"/mail/{local}", ""), `deliver "maildir" path .*: stat .*/regular/mail: not a directory`, false},
		{"tls files missing", conf(good, okMaildir, fmt.Sprintf("tls {\n  cert = %q\n  key = %q\n}\n", filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))),
			`tls cert: open .*/cert.pem: no such file or directory\n.*tls key: open .*/key.pem: no such file`, false},
		{"tls key a directory", conf(good, okMaildir, fmt.Sprintf("tls {\n  cert = %q\n  key = %q\n}\n", regular, readOnly)),
			`tls key ".*/ro": cannot read: .*is a directory`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip {
				t.Skip("running as root, who may write anywhere")
			}
			file := filepath.Join(t.TempDir(), "sluice.hcl")
			if err := os.WriteFile(file, []byte(tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := sluice(t, "check-config", "-plugins=false", file)
			if tc.want == "" {
				if code != 0 {
					t.Fatalf("exit %d\n%s%s", code, out, errs)
				}
				return
			}
			if code != 1 || !regexp.MustCompile(tc.want).MatchString(errs) || strings.Contains(out, "OK") {
				t.Errorf("exit %d, want 1 with %q\n%s%s", code, tc.want, out, errs)
			}
		})
	}
	// check-config leaves nothing behind where it tried to write.
	if ents, _ := os.ReadDir(good); len(ents) != 0 {
		t.Errorf("left in %s: %v", good, ents)
	}
}
