package config

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/crypto/bcrypt"
)

// Secrets live outside the configuration file, as Postfix keeps its SASL
// passwords out of main.cf: the file is readable by every local user
// (sendmail reads it to find the relay), the files it names for secrets
// only by root and the service. Every secret has such a form:
//
//	deliver "smtp" { auth_password_file = FILE }  the smart host's password
//	users_file = FILE                             "name:bcrypt-hash" lines
//	links { s3 { secret_key_env = VAR } }         (links.go)
//	tls { key = FILE }, signing_keys = { ... }    key files already
//
// LoadPublic reads none of them, so a user who may not read them still
// gets a Config (without the secrets) to submit through.

// LoadPublic is Load without the secrets: files named by *_file and
// users_file are not read and secret_key_env is not looked up, so any
// user can load a configuration whose secrets only the service may read.
// The Config has no Users from users_file and no AuthPassword from
// auth_password_file; it is fit for finding a listener (sendmail), not
// for serving.
func LoadPublic(path string) (*Config, hcl.Diagnostics) {
	return load(path, true)
}

// secretFile reads the secret in the file a *_file attribute names: its
// content without one final line end. It reports false, with a
// diagnostic, when the file cannot be read or holds nothing; with
// noSecrets it only resolves the path.
func (d *decoder) secretFile(a *hcl.Attribute) (path, secret string, ok bool) {
	if !d.nonEmpty(a, &path) {
		return "", "", false
	}
	path = d.path(path)
	if d.noSecrets {
		return path, "", true
	}
	b, err := os.ReadFile(path)
	if err != nil {
		d.errorf(a.Expr.Range(), "Cannot read secret", "%s: %v. It must be readable by the user sluice runs as.", a.Name, err)
		return path, "", false
	}
	secret = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if secret == "" {
		d.errorf(a.Expr.Range(), "Empty secret", "%s: %s is empty.", a.Name, path)
		return path, "", false
	}
	if strings.ContainsAny(secret, "\r\n") {
		d.errorf(a.Expr.Range(), "Invalid secret", "%s: %s holds more than one line; write the secret alone on one line.", a.Name, path)
		return path, "", false
	}
	return path, secret, true
}

// inlineSecret notes an attribute that holds a secret in the file itself,
// for the warning Load gives when the file is world-readable.
func (d *decoder) inlineSecret(a *hcl.Attribute) {
	if a != nil {
		d.inline = append(d.inline, a)
	}
}

// warnInlineSecrets warns about each secret written in a configuration
// file that every local user may read.
func (d *decoder) warnInlineSecrets(path string) {
	if len(d.inline) == 0 {
		return
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return
	}
	for _, a := range d.inline {
		d.warnf(a.NameRange, "Secret in a world-readable file",
			"%s is readable by every local user (mode %04o); put %s in a file of its own that only sluice can read (%s), as docs/config.md shows.",
			path, fi.Mode().Perm(), a.Name, fileForm[a.Name])
	}
}

// fileForm names the way to give each inline secret from elsewhere.
var fileForm = map[string]string{
	"auth_password": "auth_password_file",
	"password_hash": "users_file",
	"secret_key":    "secret_key_env",
}

// usersFile reads users_file: one user per line as "name:hash", the
// bcrypt hash as `htpasswd -nbBC 10 NAME PASSWORD` or `sluice
// hash-password` print it; blank lines and lines starting with # are
// skipped. Each mistake is reported at its line of that file.
func (d *decoder) usersFile(a *hcl.Attribute, c *Config, blocks map[string]hcl.Range) {
	var path string
	if !d.nonEmpty(a, &path) {
		return
	}
	c.UsersFile = d.path(path)
	if d.noSecrets {
		return
	}
	src, err := os.ReadFile(c.UsersFile)
	if err != nil {
		d.errorf(a.Expr.Range(), "Cannot read users_file", "%v. It must be readable by the user sluice runs as.", err)
		return
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := hcl.Range{Filename: c.UsersFile, Start: hcl.Pos{Line: n, Column: 1}, End: hcl.Pos{Line: n, Column: 1 + len(sc.Text())}}
		name, hash, found := strings.Cut(line, ":")
		switch {
		case !found:
			d.errorf(r, "Invalid users_file line", "Want NAME:BCRYPT-HASH, as `htpasswd -nbBC 10 NAME PASSWORD` prints it.")
			continue
		case name == "" || strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
			d.errorf(r, "Invalid user name", "User name %q must be non-empty, without spaces or control characters.", name)
			continue
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			d.errorf(r, "Invalid password hash", "User %q: not a bcrypt hash ($2a$, $2b$ or $2y$): %v.", name, err)
			continue
		}
		if prev, dup := blocks[name]; dup {
			d.errorf(r, "Duplicate user name", "user %q is already defined at %s.", name, pos(prev))
			continue
		}
		if prev, dup := seen[name]; dup {
			d.errorf(r, "Duplicate user name", "user %q is already defined at line %d.", name, prev)
			continue
		}
		seen[name] = n
		c.Users = append(c.Users, User{Name: name, PasswordHash: hash})
	}
	if err := sc.Err(); err != nil {
		d.errorf(a.Expr.Range(), "Cannot read users_file", "%s: %v.", c.UsersFile, err)
	}
}

// userLabels maps the names of the user blocks to their labels' ranges.
func userLabels(blocks []*hcl.Block) map[string]hcl.Range {
	out := map[string]hcl.Range{}
	for _, b := range blocks {
		if _, dup := out[b.Labels[0]]; !dup {
			out[b.Labels[0]] = b.LabelRanges[0]
		}
	}
	return out
}

// secretSource says where a delivery's password comes from, for the
// summary, without the password.
func (d Delivery) secretSource() string {
	if d.AuthPasswordFile != "" {
		return "password_file=" + d.AuthPasswordFile
	}
	return ""
}
