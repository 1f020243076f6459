package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluice-mail/sluice/internal/relaytest"
)

// sendmailConfig serves domain e2e.test into Maildirs, on a loopback smtp
// listener and a unix-socket one; extra is appended (a sendmail block).
func sendmailConfig(listen, sock, extra string) string {
	return fmt.Sprintf(`hostname = "relay.e2e.test"
data_dir = "./data"
limits {
  shutdown_grace = "1s"
}
listener "smtp" {
  address = %q
}
listener "local" {
  kind        = "smtp"
  address     = "unix:%s"
  socket_mode = "0666"
}
domain "e2e.test" {
  deliver "maildir" {
    path = "{data_dir}/maildir/{domain}/{local}"
  }
}
%s`, listen, sock, extra)
}

// runAs runs path (the sluice binary or a link to it) with args, stdin
// and extra environment, and returns its exit code and standard error.
func runAs(t *testing.T, path string, env []string, stdin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var e bytes.Buffer
	cmd.Stderr = &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, e.String()
	case errors.As(err, &ee) && ee.Exited():
		if strings.Contains(e.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector reported a data race in sendmail:\n%s", e.String())
		}
		return ee.ExitCode(), e.String()
	}
	t.Fatalf("%s %s: %v\n%s", path, strings.Join(args, " "), err, e.String())
	return 0, ""
}

// mailbox waits until the Maildir of local@e2e.test holds n messages and returns them.
func mailbox(t *testing.T, dataDir, local string, n int) []string {
	t.Helper()
	dir := filepath.Join(dataDir, "maildir", "e2e.test", local, "new")
	var files []os.DirEntry
	poll(t, fmt.Sprintf("%s holds %d messages", dir, n), func() bool {
		files, _ = os.ReadDir(dir)
		return len(files) >= n
	})
	if len(files) != n {
		t.Fatalf("%s holds %d messages, want %d", dir, len(files), n)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// TestSendmailE2E runs the relay, then the real binary as `sluice sendmail
// -t` (through the unix socket) and through a symlink named sendmail with
// recipients as arguments (through loopback TCP, named by a sendmail
// block found through SLUICE_CONFIG), checks the Maildirs, the exit codes
// of bad arguments and refused recipients, and 75 once the relay is down.
func TestSendmailE2E(t *testing.T) {
	t.Parallel()
	bin := sluiceBinary(t)
	dir := t.TempDir()
	listen := relaytest.FreeAddr(t)
	sock := filepath.Join(dir, "smtp.sock")
	cfg := writeConfig(t, dir, sendmailConfig(listen, sock, ""))
	// The same relay as a client sees it, with a sendmail block, and
	// secrets in files sendmail cannot read (here: that do not exist),
	// which it must not need.
	clientCfg := filepath.Join(dir, "client.hcl")
	if err := os.WriteFile(clientCfg, []byte(sendmailConfig(listen, sock, `sendmail {
  listener = "smtp"
  origin   = "e2e.test"
}
users_file = "secrets/users"
domain "smarthost.e2e.test" {
  deliver "smtp" {
    address            = "127.0.0.1:1"
    auth_user          = "u"
    auth_password_file = "secrets/password"
  }
}
`)), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "sendmail")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")

	p := startSluice(t, dir, "serve", "-config", cfg)
	p.waitListening(listen)

	// PHP's mail() and scripts: -t, the header's recipients, LF line ends.
	msgT := "From: Alice <alice@e2e.test>\n" +
		"To: Ann <ann@e2e.test>, bob@e2e.test\n" +
		"Bcc: hidden@e2e.test\n" +
		"Subject: from -t\n" +
		"\n" +
		"first line\n" +
		"..two dots\n" +
		"last line\n"
	code, stderr := runAs(t, bin, nil, msgT, "sendmail", "-v", "-config", cfg, "-t")
	if code != 0 {
		t.Fatalf("sluice sendmail -t: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, `listener "local" at unix `+sock) {
		t.Errorf("sendmail -v does not say it used the unix socket:\n%s", stderr)
	}
	for _, local := range []string{"ann", "bob", "hidden"} {
		got := mailbox(t, dataDir, local, 1)[0]
		hdr, body, _ := strings.Cut(got, "\r\n\r\n")
		hdr += "\r\n"
		for _, want := range []string{"\r\nFrom: Alice <alice@e2e.test>\r\n", "\r\nTo: Ann <ann@e2e.test>, bob@e2e.test\r\n",
			"\r\nSubject: from -t\r\n", "\r\nDate: ", "\r\nMessage-ID: <", "@relay.e2e.test>\r\n"} {
			if !strings.Contains(hdr, want) {
				t.Errorf("%s: header lacks %q:\n%s", local, want, hdr)
			}
		}
		if strings.Contains(got, "Bcc") || strings.Contains(got, "hidden@") && local != "hidden" {
			t.Errorf("%s: the Bcc field was not removed:\n%s", local, got)
		}
		if body != "first line\r\n..two dots\r\nlast line\r\n" {
			t.Errorf("%s: body %q", local, body)
		}
	}

	// cron: a link named sendmail, a bare user name, -i keeps a lone dot.
	msgCron := "Subject: cron\n\nbefore\n.\nafter\n"
	env := []string{"SLUICE_CONFIG=" + clientCfg}
	if code, stderr := runAs(t, link, env, msgCron, "-i", "-FCronDaemon", "-oem", "root"); code != 0 {
		t.Fatalf("sendmail -i root: exit %d\n%s", code, stderr)
	}
	got := mailbox(t, dataDir, "root", 1)[0]
	if !strings.Contains(got, "\r\nFrom: CronDaemon <") || !strings.Contains(got, "@e2e.test>\r\n") {
		t.Errorf("no From field with -F's name and the origin:\n%s", got)
	}
	if !strings.HasSuffix(got, "\r\n\r\nbefore\r\n.\r\nafter\r\n") {
		t.Errorf("with -i a lone dot must stay data:\n%q", got)
	}

	// Refusals and bad arguments: sysexits.h.
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"unknown option", []string{"-q"}, 64},
		{"-bs", []string{"-bs"}, 64},
		{"no recipients", []string{"-i"}, 64},
		{"-t without any", []string{"-t"}, 64},
		{"no route to the domain", []string{"ann@e2e.test", "nobody@elsewhere.test"}, 67},
	} {
		code, stderr := runAs(t, link, env, "Subject: x\n\nbody\n", tc.args...)
		if code != tc.code {
			t.Errorf("%s: sendmail %q exit %d, want %d\n%s", tc.name, tc.args, code, tc.code, stderr)
		}
	}

	if code := p.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM: %d", code)
	}
	// The transaction with the refused recipient was abandoned: ann got
	// only the first message.
	if n := len(mailbox(t, dataDir, "ann", 1)); n != 1 {
		t.Errorf("ann has %d messages", n)
	}
	// The relay is down: try again later, over the socket and over TCP.
	if code, stderr := runAs(t, bin, nil, msgT, "sendmail", "-config", cfg, "-t"); code != 75 {
		t.Errorf("relay down (unix socket): exit %d, want 75\n%s", code, stderr)
	}
	if code, stderr := runAs(t, link, env, msgCron, "root"); code != 75 {
		t.Errorf("relay down (loopback): exit %d, want 75\n%s", code, stderr)
	}
}
