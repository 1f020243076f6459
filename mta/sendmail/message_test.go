package sendmail

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReadMessage(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		ignoreDots bool
		want       string
	}{
		{name: "LF becomes CRLF", in: "Subject: x\n\nbody\n", want: "Subject: x\r\n\r\nbody\r\n"},
		{name: "CRLF kept", in: "Subject: x\r\n\r\nbody\r\n", want: "Subject: x\r\n\r\nbody\r\n"},
		{name: "last line without end", in: "Subject: x\n\nbody", want: "Subject: x\r\n\r\nbody\r\n"},
		{name: "a lone dot ends it", in: "Subject: x\n\none\n.\ntwo\n", want: "Subject: x\r\n\r\none\r\n"},
		{name: "a lone dot with CRLF ends it", in: "Subject: x\r\n\r\none\r\n.\r\ntwo\r\n", want: "Subject: x\r\n\r\none\r\n"},
		{name: "-i: a lone dot is data", in: "Subject: x\n\none\n.\ntwo\n", ignoreDots: true, want: "Subject: x\r\n\r\none\r\n.\r\ntwo\r\n"},
		{name: "dots in lines are data", in: "Subject: x\n\n.. two\n.x\n", want: "Subject: x\r\n\r\n.. two\r\n.x\r\n"},
		{name: "mbox From line dropped", in: "From alice Mon Jan  1 00:00:00 2024\nSubject: x\n\nFrom here\n", want: "Subject: x\r\n\r\nFrom here\r\n"},
		{name: "a bare CR is kept for the relay to refuse", in: "Subject: x\n\na\rb\n", want: "Subject: x\r\n\r\na\rb\r\n"},
		{name: "empty", in: "", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadMessage(strings.NewReader(tc.in), ReadOptions{IgnoreDots: tc.ignoreDots})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := ReadMessage(strings.NewReader("Subject: x\n\n"+strings.Repeat("a\n", 100)), ReadOptions{MaxBytes: 100}); err != ErrTooLarge {
		t.Errorf("over MaxBytes: %v", err)
	}
}

// TestHeaderRecipients: sendmail -t's recipients, and the message that
// goes out without its Bcc fields.
func TestHeaderRecipients(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		want         []string
		out          string // the header after RemoveBcc
		err          string
	}{
		{name: "To, Cc and Bcc",
			header: "To: Ann <ann@example.com>, bob@example.org\r\nCc: \"Carl, Jr.\" <carl@example.net>\r\nBcc: dora@example.com\r\nSubject: hi\r\n",
			want:   []string{"ann@example.com", "bob@example.org", "carl@example.net", "dora@example.com"},
			out:    "To: Ann <ann@example.com>, bob@example.org\r\nCc: \"Carl, Jr.\" <carl@example.net>\r\nSubject: hi\r\n"},
		{name: "folded fields, several Bcc",
			header: "To: a@example.com,\r\n  b@example.com\r\nBcc: c@example.com\r\nBcc: <d@example.com>,\r\n\te@example.com\r\n",
			want:   []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"},
			out:    "To: a@example.com,\r\n  b@example.com\r\n"},
		{name: "bare user names get the origin",
			header: "To: root, www-data\r\n",
			want:   []string{"root@host.example", "www-data@host.example"},
			out:    "To: root, www-data\r\n"},
		{name: "empty group names nobody",
			header: "To: undisclosed-recipients:;\r\nBcc: hidden@example.com\r\n",
			want:   []string{"hidden@example.com"},
			out:    "To: undisclosed-recipients:;\r\n"},
		{name: "a group's members",
			header: "To: team: a@example.com, b@example.com;\r\n",
			want:   []string{"a@example.com", "b@example.com"},
			out:    "To: team: a@example.com, b@example.com;\r\n"},
		{name: "encoded name in an unknown charset",
			header: "To: =?x-unknown?q?J=F6rg?= <joerg@example.de>\r\n",
			want:   []string{"joerg@example.de"},
			out:    "To: =?x-unknown?q?J=F6rg?= <joerg@example.de>\r\n"},
		{name: "Resent fields win",
			header: "Resent-To: new@example.com\r\nResent-Bcc: secret@example.com\r\nTo: old@example.com\r\nBcc: oldbcc@example.com\r\n",
			want:   []string{"new@example.com", "secret@example.com"},
			out:    "Resent-To: new@example.com\r\nTo: old@example.com\r\n"},
		{name: "no recipient fields", header: "Subject: x\r\n", out: "Subject: x\r\n"},
		{name: "unreadable", header: "To: a b c <\r\n", err: "To:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.header + "\r\nbody\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.HeaderRecipients("host.example")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("recipients %q, want %q", got, tc.want)
			}
			m.RemoveBcc()
			if got, want := string(m.Bytes()), tc.out+"\r\nbody\r\n"; got != want {
				t.Errorf("message\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestParseHeaderEnd(t *testing.T) {
	for _, tc := range []struct{ in, header, body string }{
		{"Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n", "body\r\n"},
		// A program that writes only a body: the first line starts it.
		{"hello world\r\nsecond\r\n", "", "hello world\r\nsecond\r\n"},
		{"Subject: x\r\nnot a field\r\n", "Subject: x\r\n", "not a field\r\n"},
		{" leading space\r\n", "", " leading space\r\n"},
		{"Subject: x\r\n", "Subject: x\r\n", ""},
	} {
		m, err := Parse([]byte(tc.in))
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got, want := string(m.Bytes()), tc.header+"\r\n"+tc.body; got != want {
			t.Errorf("%q: got %q, want %q", tc.in, got, want)
		}
	}
}

func TestAddMissing(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 30, 0, 0, time.FixedZone("", 3600))
	c := Completion{Now: now, Hostname: "host.example", From: "jane@host.example", FullName: "Jane Dœ"}

	m, _ := Parse([]byte("Subject: x\r\n\r\nbody\r\n"))
	m.AddMissing(c)
	out := string(m.Bytes())
	for _, want := range []string{
		"Date: Sun, 01 Mar 2026 12:30:00 +0100\r\n",
		"From: =?utf-8?q?Jane_D=C5=93?= <jane@host.example>\r\n",
		"@host.example>\r\n",
		"Message-ID: <20260301113000.",
		"Subject: x\r\n\r\nbody\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}

	complete := "From: a@example.com\r\nDate: Mon, 2 Feb 2026 10:00:00 +0000\r\nMessage-Id: <x@y>\r\n\r\nbody\r\n"
	m, _ = Parse([]byte(complete))
	m.AddMissing(c)
	if got := string(m.Bytes()); got != complete {
		t.Errorf("a complete header changed:\n%q", got)
	}

	m, _ = Parse([]byte("Subject: x\r\n\r\n"))
	m.AddMissing(Completion{Now: now, Hostname: "h", From: "cron@h"})
	if got := m.Header.Get("From"); got != "<cron@h>" {
		t.Errorf("From without a name: %q", got)
	}
	for name, want := range map[string]string{
		"CronDaemon":   "CronDaemon <cron@h>",
		"Jane Q. Doe":  `"Jane Q. Doe" <cron@h>`,
		"O'Neil-Smith": "O'Neil-Smith <cron@h>",
		"Doe, Jane":    `"Doe, Jane" <cron@h>`,
	} {
		if got := formatAddress(name, "cron@h"); got != want {
			t.Errorf("formatAddress(%q) = %s, want %s", name, got, want)
		}
	}
}

func TestParseAddressList(t *testing.T) {
	for in, want := range map[string][]string{
		"root":                     {"root@origin.example"},
		"root, admin@example.com":  {"root@origin.example", "admin@example.com"},
		"<root>":                   {"root@origin.example"},
		"Ann <ann@example.com>":    {"ann@example.com"},
		"ann@example.com":          {"ann@example.com"},
		"":                         nil,
		"jürgen@bücher.example":    {"jürgen@bücher.example"},
		"a@example.com,,b@x.test,": {"a@example.com", "b@x.test"},
	} {
		got, err := ParseAddressList(in, "origin.example")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseAddressList(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a b", "@x", "x@"} {
		if got, err := ParseAddressList(bad, "o"); err == nil {
			t.Errorf("ParseAddressList(%q) = %q, want an error", bad, got)
		}
	}
}
