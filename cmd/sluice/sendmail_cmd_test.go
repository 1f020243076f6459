package main

import (
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestParseSendmailArgs(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name string
		args []string
		want sendmailArgs // recipients nil when none
		err  string
	}{
		{name: "PHP's mail()", args: []string{"-t", "-i"}, want: sendmailArgs{extract: true, ignoreDots: true}},
		{name: "bundled", args: []string{"-ti"}, want: sendmailArgs{extract: true, ignoreDots: true}},
		{name: "cron (Debian)", args: []string{"-i", "-FCronDaemon", "-B8BITMIME", "-oem", "root"},
			want: sendmailArgs{ignoreDots: true, fullName: "CronDaemon", recipients: []string{"root"}}},
		{name: "-oi", args: []string{"-oi", "a@example.com"}, want: sendmailArgs{ignoreDots: true, recipients: []string{"a@example.com"}}},
		{name: "-o value apart", args: []string{"-o", "i", "a@example.com"}, want: sendmailArgs{ignoreDots: true, recipients: []string{"a@example.com"}}},
		{name: "other -o ignored", args: []string{"-odi", "-oQ/var/spool", "-oem", "a@example.com"}, want: sendmailArgs{recipients: []string{"a@example.com"}}},
		{name: "-f attached", args: []string{"-fme@example.com", "you@example.org"},
			want: sendmailArgs{sender: str("me@example.com"), recipients: []string{"you@example.org"}}},
		{name: "-f apart", args: []string{"-f", "me@example.com", "you@example.org"},
			want: sendmailArgs{sender: str("me@example.com"), recipients: []string{"you@example.org"}}},
		{name: "null sender", args: []string{"-f", "", "you@example.org"}, want: sendmailArgs{sender: str(""), recipients: []string{"you@example.org"}}},
		{name: "-r", args: []string{"-r<>", "x"}, want: sendmailArgs{sender: str("<>"), recipients: []string{"x"}}},
		{name: "-F apart", args: []string{"-F", "Jane Doe", "-t"}, want: sendmailArgs{fullName: "Jane Doe", extract: true}},
		{name: "-bm", args: []string{"-bm", "x"}, want: sendmailArgs{recipients: []string{"x"}}},
		{name: "-v and ignored bool options", args: []string{"-vmnUG", "x"}, want: sendmailArgs{verbose: true, recipients: []string{"x"}}},
		{name: "-h -L ignored", args: []string{"-h", "17", "-Lcron", "x"}, want: sendmailArgs{recipients: []string{"x"}}},
		{name: "DSN", args: []string{"-N", "failure,delay", "-Rhdrs", "-V", "id1", "x"},
			want: sendmailArgs{notify: []smtp.DSNNotify{smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed}, ret: smtp.DSNReturnHeaders, envID: "id1", recipients: []string{"x"}}},
		{name: "config", args: []string{"-config", "/etc/s.hcl", "--config=/x.hcl", "x"}, want: sendmailArgs{config: "/x.hcl", recipients: []string{"x"}}},
		{name: "options end at the first recipient", args: []string{"x", "-t"}, want: sendmailArgs{recipients: []string{"x", "-t"}}},
		{name: "--", args: []string{"-i", "--", "-x"}, want: sendmailArgs{ignoreDots: true, recipients: []string{"-x"}}},
		{name: "help", args: []string{"--help"}, want: sendmailArgs{help: true}},

		{name: "unknown option", args: []string{"-q"}, err: "unknown option -q"},
		{name: "unknown in a bundle", args: []string{"-tz"}, err: "unknown option -z"},
		{name: "-bs not supported", args: []string{"-bs"}, err: "-bs is not supported"},
		{name: "-bp not supported", args: []string{"-bp"}, err: "-bp is not supported"},
		{name: "missing value", args: []string{"-f"}, err: "option -f needs a value"},
		{name: "-h alone", args: []string{"-h"}, err: "option -h needs a value"},
		{name: "bad -N", args: []string{"-N", "sometimes", "x"}, err: "-N"},
		{name: "bad -R", args: []string{"-R", "all", "x"}, err: "-R"},
		{name: "long option without value", args: []string{"-config"}, err: "-config needs a file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSendmailArgs(tc.args, io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.recipients) == 0 {
				got.recipients = nil
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

// TestSendmailUsageExit: bad arguments give EX_USAGE (64), -help 0, and
// no recipients 64, before any configuration or relay is looked at.
func TestSendmailUsageExit(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"-q"}, 64},
		{[]string{"-bs"}, 64},
		{[]string{"-help"}, 0},
		{[]string{"-i"}, 64},
		{[]string{"-f", "a b", "x@example.com"}, 64},
		{[]string{"x y@example.com"}, 64},
	} {
		var stderr strings.Builder
		code := run(append([]string{"sendmail", "-config", "testdata/sendmail.hcl"}, tc.args...), strings.NewReader("Subject: x\n\nbody\n"), io.Discard, &stderr)
		if code != tc.code {
			t.Errorf("sendmail %q: exit %d, want %d\n%s", tc.args, code, tc.code, stderr.String())
		}
	}
}

func TestEnvelopeSender(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"<>":                "",
		"root":              "root@host.example",
		"<a@example.com>":   "a@example.com",
		" bob@example.org ": "bob@example.org",
	} {
		got, err := envelopeSender(in, "host.example")
		if err != nil || got != want {
			t.Errorf("envelopeSender(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a b@example.com", "@example.com", "x@", "a,b"} {
		if got, err := envelopeSender(bad, "host.example"); err == nil {
			t.Errorf("envelopeSender(%q) = %q, want an error", bad, got)
		}
	}
}

func TestInvokedAsSendmail(t *testing.T) {
	for argv0, want := range map[string]bool{"/usr/sbin/sendmail": true, "sendmail": true, "./sluice": false, "/usr/lib/sendmail.sluice": false} {
		if got := invokedAsSendmail(argv0); got != want {
			t.Errorf("invokedAsSendmail(%q) = %v", argv0, got)
		}
	}
}
