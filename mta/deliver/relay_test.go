package deliver

import (
	"bufio"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/mta/config"
)

func newTransport(t testing.TB, d config.Delivery, opts Options) Transport {
	t.Helper()
	if opts.Hostname == "" {
		opts.Hostname = "relay.test"
	}
	tr, err := New(d, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func smtpTo(addr string, mode config.TLSMode) config.Delivery {
	return config.Delivery{Method: config.DeliverSMTP, Network: "tcp", Address: addr, TLS: mode}
}

func TestSMTPPerRecipient(t *testing.T) {
	s := &sink{rcpt: func(_ int, to string) error {
		switch {
		case strings.HasPrefix(to, "busy"):
			return smtpErr(450, smtp.EnhancedCode{4, 2, 1}, "mailbox busy")
		case strings.HasPrefix(to, "gone"):
			return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no such user")
		}
		return nil
	}}
	addr := s.start(t, sinkOpts{})
	tr := newTransport(t, smtpTo(addr, config.TLSNone), Options{})
	rcpts := []string{"ok1@example.net", "busy@example.net", "gone@example.net", "ok2@example.net"}
	res := tr.Deliver(context.Background(), testMessage(testBody), rcpts)
	checkResults(t, res, rcpts, []expect{wantOK, wantTemp, wantPerm, wantOK})
	if res[1].Code != 450 || res[1].Enhanced != "4.2.1" || res[1].Text != "mailbox busy" {
		t.Errorf("busy: %+v", res[1])
	}
	if res[2].Code != 550 || res[2].Enhanced != "5.1.1" {
		t.Errorf("gone: %+v", res[2])
	}
	msgs := s.messages()
	if len(msgs) != 1 {
		t.Fatalf("sink got %d messages", len(msgs))
	}
	if msgs[0].Data != testBody {
		t.Errorf("body:\n%q\nwant\n%q", msgs[0].Data, testBody)
	}
	if got := strings.Join(msgs[0].Rcpts, ","); got != "ok1@example.net,ok2@example.net" {
		t.Errorf("rcpts %s", got)
	}
}

func TestSMTPFinalReply(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want expect
	}{
		{"accepted", nil, wantOK},
		{"tempfail", smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "try later"), wantTemp},
		{"rejected", smtpErr(554, smtp.EnhancedCode{5, 6, 0}, "content rejected"), wantPerm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{data: func(int) error { return tc.err }}
			tr := newTransport(t, smtpTo(s.start(t, sinkOpts{}), config.TLSNone), Options{})
			rcpts := []string{"a@example.net", "b@example.net"}
			res := tr.Deliver(context.Background(), testMessage(testBody), rcpts)
			checkResults(t, res, rcpts, []expect{tc.want, tc.want})
			// The session stays usable after any final reply.
			res = tr.Deliver(context.Background(), testMessage(testBody), rcpts[:1])
			checkResults(t, res, rcpts[:1], []expect{tc.want})
			if n := s.connections(); n != 1 {
				t.Errorf("%d connections, want 1", n)
			}
		})
	}
}

func TestSMTPAllRecipientsRejectedSendsNoData(t *testing.T) {
	reject := true
	s := &sink{rcpt: func(int, string) error {
		if reject {
			return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no")
		}
		return nil
	}}
	tr := newTransport(t, smtpTo(s.start(t, sinkOpts{}), config.TLSNone), Options{})
	rcpts := []string{"x@example.net", "y@example.net"}
	res := tr.Deliver(context.Background(), testMessage(testBody), rcpts)
	checkResults(t, res, rcpts, []expect{wantPerm, wantPerm})
	if n := len(s.messages()); n != 0 {
		t.Fatalf("DATA was sent: %d messages", n)
	}
	// The reused session is reset and delivers the next message.
	reject = false
	res = tr.Deliver(context.Background(), testMessage(testBody), rcpts)
	checkResults(t, res, rcpts, []expect{wantOK, wantOK})
	if n := s.connections(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestSMTPConnectionReuse(t *testing.T) {
	s := &sink{}
	tr := newTransport(t, smtpTo(s.start(t, sinkOpts{}), config.TLSNone), Options{})
	const n = 10
	for i := range n {
		res := tr.Deliver(context.Background(), testMessage(testBody), []string{"r@example.net"})
		if !res[0].OK() {
			t.Fatalf("message %d: %v", i, res[0])
		}
	}
	if got := len(s.messages()); got != n {
		t.Errorf("sink got %d messages, want %d", got, n)
	}
	if c := s.connections(); c != 1 {
		t.Errorf("sink saw %d connections for %d messages, want 1", c, n)
	}
}

func TestSMTPRedialsWhenPooledSessionDied(t *testing.T) {
	// The peer drops the first connection after one message; the next
	// delivery must notice and redial instead of failing.
	first := make(chan net.Conn, 1)
	s := &sink{}
	addr := s.start(t, sinkOpts{})
	proxy := scripted(t, func(c net.Conn) {
		up, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer up.Close()
		select {
		case first <- c:
		default:
		}
		go io.Copy(up, c)
		io.Copy(c, up)
	})
	tr := newTransport(t, smtpTo(proxy, config.TLSNone), Options{})
	if res := tr.Deliver(context.Background(), testMessage(testBody), []string{"a@example.net"}); !res[0].OK() {
		t.Fatal(res[0])
	}
	(<-first).Close()
	if res := tr.Deliver(context.Background(), testMessage(testBody), []string{"a@example.net"}); !res[0].OK() {
		t.Fatalf("after idle close: %v", res[0])
	}
	if c := s.connections(); c != 2 {
		t.Errorf("%d connections, want 2", c)
	}
}

func TestSMTPTLSModes(t *testing.T) {
	cert, pool := testCert(t)
	_, otherPool := testCert(t)
	for _, tc := range []struct {
		name     string
		starttls bool
		mode     config.TLSMode
		roots    *x509.CertPool
		want     expect
		wantTLS  bool
		enhanced string
	}{
		{"none ignores STARTTLS", true, config.TLSNone, nil, wantOK, false, ""},
		{"opportunistic without STARTTLS", false, config.TLSOpportunistic, nil, wantOK, false, ""},
		{"opportunistic with STARTTLS", true, config.TLSOpportunistic, nil, wantOK, true, ""},
		{"default is opportunistic", true, "", nil, wantOK, true, ""},
		{"required with STARTTLS", true, config.TLSRequired, nil, wantOK, true, ""},
		{"required without STARTTLS", false, config.TLSRequired, nil, wantTemp, false, "4.7.10"},
		{"verify with right CA", true, config.TLSVerify, pool, wantOK, true, ""},
		{"verify with wrong CA", true, config.TLSVerify, otherPool, wantTemp, false, ""},
		{"verify without STARTTLS", false, config.TLSVerify, pool, wantTemp, false, "4.7.10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{}
			o := sinkOpts{}
			if tc.starttls {
				o.tls = &cert
			}
			tr := newTransport(t, smtpTo(s.start(t, o), tc.mode), Options{RootCAs: tc.roots})
			res := tr.Deliver(context.Background(), testMessage(testBody), []string{"a@example.net"})
			checkResults(t, res, []string{"a@example.net"}, []expect{tc.want})
			if res[0].Enhanced != tc.enhanced && tc.want != wantOK {
				t.Errorf("enhanced %q, want %q (%v)", res[0].Enhanced, tc.enhanced, res[0])
			}
			msgs := s.messages()
			if tc.want != wantOK {
				if len(msgs) != 0 {
					t.Fatalf("message was sent despite policy")
				}
				return
			}
			if len(msgs) != 1 || msgs[0].TLS != tc.wantTLS || msgs[0].Data != testBody {
				t.Fatalf("sink got %+v, want one message with TLS=%v", msgs, tc.wantTLS)
			}
		})
	}
}

func TestSMTPAuth(t *testing.T) {
	cert, _ := testCert(t)
	for _, tc := range []struct {
		name    string
		tls     config.TLSMode
		address string // "" = the sink on 127.0.0.1
		pass    string
		want    expect
	}{
		{"over TLS", config.TLSRequired, "", "secret", wantOK},
		{"plaintext to loopback", config.TLSNone, "", "secret", wantOK},
		{"wrong password waits", config.TLSRequired, "", "wrong", wantTemp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{authPass: "secret"}
			d := smtpTo(s.start(t, sinkOpts{tls: &cert}), tc.tls)
			d.AuthUser, d.AuthPassword = "u", tc.pass
			tr := newTransport(t, d, Options{})
			res := tr.Deliver(context.Background(), testMessage(testBody), []string{"a@example.net"})
			checkResults(t, res, []string{"a@example.net"}, []expect{tc.want})
			if tc.want == wantOK {
				if msgs := s.messages(); len(msgs) != 1 || msgs[0].Auth != "u" {
					t.Fatalf("sink got %+v", msgs)
				}
			}
		})
	}
}

func TestSMTPAuthRefusedWithoutTLSToRemoteHost(t *testing.T) {
	// Plain auth to a non-loopback hop is a configuration error...
	d := smtpTo("192.0.2.1:25", config.TLSNone)
	d.AuthUser, d.AuthPassword = "u", "p"
	if _, err := New(d, Options{}); err == nil {
		t.Fatal("New accepted AUTH without TLS to a remote host")
	}
	// ...and opportunistic TLS that finds no STARTTLS keeps the password back.
	s := &sink{authPass: "p"}
	addr := s.start(t, sinkOpts{})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dl := &dialer{opts: Options{Hostname: "relay.test"}.withDefaults(), tlsMode: config.TLSOpportunistic, authUser: "u", authPass: "p"}
	// The hop names a remote address; the loopback connection stands in for it.
	_, err = dl.greet(context.Background(), conn, hop{network: "tcp", address: "192.0.2.1:25"}, config.TLSOpportunistic)
	r := classify(context.Background(), "a@example.net", "", err)
	if r.Code != 451 || r.Enhanced != "4.7.10" || r.Permanent {
		t.Fatalf("got %v, want temporary 451 4.7.10", r)
	}
}

func TestHopLocal(t *testing.T) {
	for _, tc := range []struct {
		h    hop
		want bool
	}{
		{hop{network: "unix", address: "/run/lmtp"}, true},
		{hop{network: "tcp", address: "127.0.0.1:25"}, true},
		{hop{network: "tcp", address: "[::1]:25"}, true},
		{hop{network: "tcp", address: "localhost:25"}, true},
		{hop{network: "tcp", address: "192.0.2.1:25"}, false},
		{hop{network: "tcp", address: "mail.example.net:25"}, false},
		{hop{network: "tcp", address: "garbage"}, false},
	} {
		if got := tc.h.local(); got != tc.want {
			t.Errorf("%s: local() = %v", tc.h.address, got)
		}
	}
}

func TestSMTPUTF8(t *testing.T) {
	for _, offered := range []bool{false, true} {
		s := &sink{}
		tr := newTransport(t, smtpTo(s.start(t, sinkOpts{utf8: offered}), config.TLSNone), Options{})
		msg := testMessage(testBody)
		msg.UTF8 = true
		msg.From = "jöran@example.org"
		rcpts := []string{"dörte@example.net"}
		res := tr.Deliver(context.Background(), msg, rcpts)
		if !offered {
			if !res[0].Permanent || res[0].Code != 550 || res[0].Enhanced != "5.6.7" {
				t.Errorf("not offered: got %v, want 550 5.6.7", res[0])
			}
			if len(s.messages()) != 0 {
				t.Error("message sent without SMTPUTF8")
			}
			continue
		}
		checkResults(t, res, rcpts, []expect{wantOK})
		if msgs := s.messages(); len(msgs) != 1 || !msgs[0].UTF8 || msgs[0].From != msg.From {
			t.Errorf("offered: sink got %+v", msgs)
		}
	}
}

func TestLMTPMixedOutcomes(t *testing.T) {
	dir, err := os.MkdirTemp("", "lmtp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	lmtpStatus := func(rcpt string) error {
		switch {
		case strings.HasPrefix(rcpt, "full"):
			return smtpErr(452, smtp.EnhancedCode{4, 2, 2}, "mailbox full")
		case strings.HasPrefix(rcpt, "bad"):
			return smtpErr(554, smtp.EnhancedCode{5, 6, 0}, "refused")
		}
		return nil
	}
	rcptCheck := func(_ int, to string) error {
		if strings.HasPrefix(to, "unknown") {
			return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "unknown user")
		}
		return nil
	}
	for _, tc := range []struct{ network, address string }{
		{"unix", sock},
		{"tcp", "127.0.0.1:0"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			s := &sink{lmtp: lmtpStatus, rcpt: rcptCheck}
			addr := s.start(t, sinkOpts{lmtp: true, network: tc.network, address: tc.address})
			tr := newTransport(t, config.Delivery{Method: config.DeliverLMTP, Network: tc.network, Address: addr}, Options{})
			rcpts := []string{"ok@example.net", "full@example.net", "unknown@example.net", "bad@example.net", "ok2@example.net"}
			for range 2 { // the second round runs on the pooled session
				res := tr.Deliver(context.Background(), testMessage(testBody), rcpts)
				checkResults(t, res, rcpts, []expect{wantOK, wantTemp, wantPerm, wantPerm, wantOK})
				if res[1].Code != 452 || res[3].Code != 554 || res[2].Code != 550 {
					t.Errorf("codes: %v", res)
				}
			}
			msgs := s.messages()
			if len(msgs) != 2 || msgs[0].Data != testBody {
				t.Fatalf("sink got %+v", msgs)
			}
			if c := s.connections(); c != 1 {
				t.Errorf("%d connections, want 1", c)
			}
		})
	}
}

// smtpPeer answers like a minimal server up to DATA, then runs atData.
func smtpPeer(atData func(c net.Conn, r *bufio.Reader)) func(net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		io.WriteString(c, "220 peer ESMTP\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
			case strings.HasPrefix(cmd, "EHLO"):
				io.WriteString(c, "250-peer\r\n250 8BITMIME\r\n")
			case cmd == "DATA":
				io.WriteString(c, "354 go\r\n")
				atData(c, r)
				return
			default:
				io.WriteString(c, "250 ok\r\n")
			}
		}
	}
}

func TestHostilePeers(t *testing.T) {
	huge := strings.Repeat("x", 100000)
	for _, tc := range []struct {
		name   string
		script func(net.Conn)
	}{
		{"garbage greeting", func(c net.Conn) { io.WriteString(c, "hello there\r\n") }},
		{"closes at once", func(c net.Conn) {}},
		{"huge greeting line", func(c net.Conn) { io.WriteString(c, "220 "+huge+"\r\n") }},
		{"endless multiline", func(c net.Conn) {
			for {
				if _, err := io.WriteString(c, "220-"+huge[:1000]+"\r\n"); err != nil {
					return
				}
			}
		}},
		{"bad reply code", func(c net.Conn) { io.WriteString(c, "999 what\r\n") }},
		{"disconnect mid-DATA", smtpPeer(func(c net.Conn, r *bufio.Reader) {
			r.ReadString('\n') // one line of the body, then hang up
		})},
		{"garbage after DATA", smtpPeer(func(c net.Conn, r *bufio.Reader) {
			for {
				line, err := r.ReadString('\n')
				if err != nil || line == ".\r\n" {
					break
				}
			}
			io.WriteString(c, "\x00\x01garbage\r\n")
		})},
	} {
		// Both the go-smtp greeting path and sluice's own STARTTLS preamble.
		for _, mode := range []config.TLSMode{config.TLSNone, config.TLSOpportunistic} {
			t.Run(tc.name+"/"+string(mode), func(t *testing.T) {
				addr := scripted(t, tc.script)
				tr := newTransport(t, smtpTo(addr, mode), Options{})
				rcpts := []string{"a@example.net", "b@example.net"}
				res := tr.Deliver(context.Background(), testMessage(strings.Repeat(testBody, 1000)), rcpts)
				checkResults(t, res, rcpts, []expect{wantTemp, wantTemp})
				t.Logf("result: %v", res[0])
				if res[0].Code != 0 || res[0].Text == "" {
					t.Errorf("want Code 0 with a text, got %+v", res[0])
				}
			})
		}
	}
}

func TestContextCancelStopsDelivery(t *testing.T) {
	heardEHLO := make(chan struct{})
	addr := scripted(t, func(c net.Conn) {
		io.WriteString(c, "220 slow\r\n")
		bufio.NewReader(c).ReadString('\n')
		close(heardEHLO)
		io.Copy(io.Discard, c) // never answer
	})
	tr := newTransport(t, smtpTo(addr, config.TLSNone), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-heardEHLO; cancel() }()
	res := tr.Deliver(ctx, testMessage(testBody), []string{"a@example.net"})
	if classOf(res[0]) != wantTemp {
		t.Fatalf("got %v, want temporary", res[0])
	}
}

func TestSMTPConcurrentDeliveriesSharePool(t *testing.T) {
	s := &sink{}
	const workers, each = 6, 5
	// With room for every worker's session in the pool, a worker dials only
	// while all live sessions are busy, so there are never more than workers.
	tr := newTransport(t, smtpTo(s.start(t, sinkOpts{}), config.TLSNone), Options{MaxIdle: workers})
	errs := make(chan string, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if res := tr.Deliver(context.Background(), testMessage(testBody), []string{"r@example.net"}); !res[0].OK() {
					errs <- res[0].String()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := len(s.messages()); got != workers*each {
		t.Errorf("sink got %d messages, want %d", got, workers*each)
	}
	if c := s.connections(); c > workers {
		t.Errorf("%d connections for %d messages: sessions are not reused", c, workers*each)
	}
}

// TestDSNPassedOn: the client's DSN parameters go on to an SMTP next hop
// that offers DSN (RFC 3461 section 5.2.1), which then reports what
// happens next; a next hop without DSN gets none and the success is
// "relayed" (section 5.2.2); an LMTP server, the final delivery, gets none
// and the success is sluice's to report as delivered (section 5.2.3).
func TestDSNPassedOn(t *testing.T) {
	rcpts := []string{"a@example.net", "b@example.net", "c@example.net"}
	dsnMessage := func() *Message {
		msg := testMessage(testBody)
		msg.DSN = &DSN{Ret: "HDRS", EnvID: "env 42", Rcpt: map[string]RcptDSN{
			"a@example.net": {Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "RFC822;orig-a@example.org"},
			"b@example.net": {Notify: []string{"NEVER"}},
			// c asked nothing; a value go-smtp's client would refuse is dropped, not fatal.
			"c@example.net": {Notify: []string{"NEVER", "SUCCESS"}, ORcpt: "X400;c"},
		}}
		return msg
	}
	for _, tc := range []struct {
		name            string
		opts            sinkOpts
		lmtp            bool
		passed, relayed bool
	}{
		{"smtp with DSN", sinkOpts{dsn: true}, false, true, true},
		{"smtp without DSN", sinkOpts{}, false, false, true},
		{"lmtp with DSN", sinkOpts{dsn: true, lmtp: true}, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{}
			d := smtpTo(s.start(t, tc.opts), config.TLSNone)
			if tc.lmtp {
				d.Method = config.DeliverLMTP
			}
			res := newTransport(t, d, Options{}).Deliver(context.Background(), dsnMessage(), rcpts)
			checkResults(t, res, rcpts, []expect{wantOK, wantOK, wantOK})
			for _, r := range res {
				if r.DSNPassed != tc.passed || r.Relayed != tc.relayed {
					t.Errorf("%s: DSNPassed %v Relayed %v, want %v %v", r.Rcpt, r.DSNPassed, r.Relayed, tc.passed, tc.relayed)
				}
			}
			msgs := s.messages()
			if len(msgs) != 1 {
				t.Fatalf("sink got %d messages", len(msgs))
			}
			want, wantRcpt := "", map[string]string{}
			if tc.passed {
				want = "RET=HDRS, ENVID=env 42"
				wantRcpt = map[string]string{
					"a@example.net": "NOTIFY=[SUCCESS FAILURE], ORCPT=RFC822;orig-a@example.org",
					"b@example.net": "NOTIFY=[NEVER], ORCPT=;",
				}
			}
			if msgs[0].MailDSN != want {
				t.Errorf("MAIL parameters %q, want %q", msgs[0].MailDSN, want)
			}
			if fmt.Sprint(msgs[0].RcptDSN) != fmt.Sprint(wantRcpt) {
				t.Errorf("RCPT parameters %v, want %v", msgs[0].RcptDSN, wantRcpt)
			}
		})
	}
}
