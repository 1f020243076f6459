package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const secretsConfig = `listener "smtp" { address = "127.0.0.1:2525" }
users_file = "secrets/users"
domain "a.example" {
  deliver "smtp" {
    address            = "127.0.0.1:2526"
    auth_user          = "u"
    auth_password_file = "secrets/password"
  }
}
links {
  listen = "127.0.0.1:8025"
  s3 {
    endpoint       = "[::1]:9000"
    bucket         = "links"
    access_key     = "AK"
    secret_key_env = "SLUICE_TEST_NEVER_SET"
  }
}
`

// TestLoadPublic: a configuration whose secrets cannot be read (no such
// files, no such variable) fails Load, as serve must not start without
// them, and passes LoadPublic, as sendmail needs none of them.
func TestLoadPublic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.hcl")
	if err := os.WriteFile(path, []byte(secretsConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, diags := Load(path); len(diags.Errs()) != 3 {
		t.Errorf("Load: want the 3 unreadable secrets as errors, got %v", diags)
	}
	c, diags := LoadPublic(path)
	if diags.HasErrors() || len(diags) > 0 {
		t.Fatalf("LoadPublic: %v", diags)
	}
	dl := c.Domains[0].Deliver
	if dl.AuthPassword != "" || dl.AuthPasswordFile != filepath.Join(dir, "secrets", "password") ||
		c.UsersFile != filepath.Join(dir, "secrets", "users") || len(c.Users) != 0 {
		t.Errorf("LoadPublic: AuthPassword %q AuthPasswordFile %q UsersFile %q Users %v", dl.AuthPassword, dl.AuthPasswordFile, c.UsersFile, c.Users)
	}

	// With the files there, Load reads them.
	os.Mkdir(filepath.Join(dir, "secrets"), 0o750)
	os.WriteFile(filepath.Join(dir, "secrets", "password"), []byte("s3cret\r\n"), 0o640)
	os.WriteFile(filepath.Join(dir, "secrets", "users"), []byte("alice:$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy\n"), 0o640)
	t.Setenv("SLUICE_TEST_NEVER_SET", "sk")
	c, diags = Load(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := c.Domains[0].Deliver.AuthPassword; got != "s3cret" {
		t.Errorf("AuthPassword %q, want s3cret without the line end", got)
	}
	if _, ok := c.UserByName("alice"); !ok || len(c.Users) != 1 {
		t.Errorf("users %v, want alice from users_file", c.Users)
	}
}

// TestInlineSecretWarning: each secret written in a world-readable file
// is a warning; in a file others cannot read, nothing.
func TestInlineSecretWarning(t *testing.T) {
	src := `listener "smtp" { address = "127.0.0.1:2525" }
user "alice" {
  password_hash = "$2a$04$pzMtWBb1OEGrr.SnIZSs2.hKoF7MT1rMPc1hLqSImyGQVKXW3iRSy"
}
domain "a.example" {
  deliver "smtp" {
    address       = "127.0.0.1:2526"
    auth_user     = "u"
    auth_password = "p"
  }
}
`
	path := filepath.Join(t.TempDir(), "sluice.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644) // whatever the umask
	_, diags := Load(path)
	if len(diags) != 2 || diags.HasErrors() {
		t.Fatalf("want 2 warnings, got %v", diags)
	}
	for i, want := range []string{"password_hash", "auth_password"} {
		if d := diags[i]; d.Summary != "Secret in a world-readable file" || !strings.Contains(d.Detail, "put "+want+" in a file") {
			t.Errorf("warning %d: %s; %s", i, d.Summary, d.Detail)
		}
	}
	os.Chmod(path, 0o640)
	if _, diags := Load(path); len(diags) != 0 {
		t.Errorf("0640: %v", diags)
	}
}
