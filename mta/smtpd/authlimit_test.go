package smtpd_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/relaytest"
)

// authFailureCount scrapes sluice_auth_failures_total for a listener and outcome.
func authFailureCount(t *testing.T, r *relaytest.Relay, listener, outcome string) string {
	t.Helper()
	resp, err := http.Get(r.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("sluice_auth_failures_total{listener=%q,outcome=%q} ", listener, outcome)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return v
		}
	}
	return "0"
}

// Wrong passwords are slowed down and then stopped: one connection could
// try 40 passwords, 535 each, then log in with the right one; eight could
// try 32 a second. Now each failure waits auth_failure_delay, the
// max_auth_failures-th on a connection closes it with 421 4.7.0, and a
// client address that spent max_auth_failures_per_ip_per_hour failures
// is refused at AUTH (421 4.7.0, no password checked) on any connection.
func TestAuthFailureLimits(t *testing.T) {
	const listener = "smtp-insecure-auth"
	wrong := "AUTH PLAIN " + plain(relaytest.User, "not-the-password")
	right := "AUTH PLAIN " + plain(relaytest.User, relaytest.Password)
	type step struct {
		newConn bool   // dial a new connection first
		line    string // the AUTH command (LOGIN: the user and password follow)
		login   bool
		code    int
		enh     string
		closed  bool // the connection closes after the reply
	}
	cases := []struct {
		name    string
		limits  string
		steps   []step
		metrics map[string]string // outcome: count
	}{
		{
			name:   "per connection",
			limits: "max_auth_failures = 3\nmax_auth_failures_per_ip_per_hour = 1000\nauth_failure_delay = \"200ms\"",
			steps: []step{
				{newConn: true, line: wrong, code: 535, enh: "5.7.8"},
				{line: "AUTH LOGIN", login: true, code: 535, enh: "5.7.8"},
				{line: wrong, code: 421, enh: "4.7.0", closed: true},
				{newConn: true, line: right, code: 235, enh: "2.0.0"},
			},
			metrics: map[string]string{"rejected": "2", "closed": "1", "blocked": "0"},
		},
		{
			name:   "per address, across connections",
			limits: "max_auth_failures = 100\nmax_auth_failures_per_ip_per_hour = 3\nauth_failure_delay = \"1ms\"",
			steps: []step{
				{newConn: true, line: wrong, code: 535, enh: "5.7.8"},
				{newConn: true, line: wrong, code: 535, enh: "5.7.8"},
				{newConn: true, line: wrong, code: 421, enh: "4.7.0", closed: true}, // the last of the budget
				{newConn: true, line: right, code: 421, enh: "4.7.0", closed: true}, // blocked, even with the password
				{newConn: true, line: "AUTH LOGIN", code: 421, enh: "4.7.0", closed: true},
			},
			metrics: map[string]string{"rejected": "2", "closed": "1", "blocked": "2"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := relaytest.StartSink(t, false, nil)
			r := relaytest.StartRelay(t, sinkDomains(s)+"metrics_listen = \"127.0.0.1:0\"\nlimits {\n"+tc.limits+"\n}\n")
			var rc *relaytest.Conn
			for i, st := range tc.steps {
				if st.newConn {
					rc = relaytest.DialRaw(t, r.Addr(listener))
					rc.Cmd("EHLO client.test", 250)
				}
				start := time.Now()
				var got string
				switch {
				case st.login:
					rc.Cmd(st.line, 334)
					rc.Cmd(b64(relaytest.User), 334)
					got = rc.Cmd(b64("not-the-password"), st.code)
				case st.closed:
					rc.Send(st.line + "\r\n")
					got = lastWords(t, rc.C, 10*time.Second)
					if want := fmt.Sprintf("%d %s ", st.code, st.enh); !strings.HasPrefix(got, want) || strings.Count(got, "\n") != 1 {
						t.Fatalf("step %d: got %q, want one line %q... and the end", i, got, want)
					}
					continue
				default:
					got = rc.Cmd(st.line, st.code)
				}
				if !strings.HasPrefix(got, st.enh+" ") {
					t.Errorf("step %d: %d %q, want %s", i, st.code, got, st.enh)
				}
				// A lower bound only: a loaded machine makes it longer.
				if st.code == 535 && strings.Contains(tc.limits, `"200ms"`) && time.Since(start) < 200*time.Millisecond {
					t.Errorf("step %d: 535 after %v, want auth_failure_delay (200ms) first", i, time.Since(start))
				}
			}
			for outcome, want := range tc.metrics {
				if got := authFailureCount(t, r, listener, outcome); got != want {
					t.Errorf("sluice_auth_failures_total{outcome=%q} = %s, want %s", outcome, got, want)
				}
			}
		})
	}
}
