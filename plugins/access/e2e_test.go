package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
)

// startAccess runs a live relay whose domain sink.test runs the access
// filter with conf and delivers to a sink.
func startAccess(t *testing.T, conf map[string]any, grants string) (*relaytest.Relay, *relaytest.Sink) {
	t.Helper()
	wasm := wasmtest.Build(t, "plugins/access")
	js, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	s := relaytest.StartSink(t, false, nil)
	hcl := fmt.Sprintf(`
filter "access" {
  wasm = %q
  timeout = "5s"
  grants = %s
  config = %s
}
domain "sink.test" {
  filters = ["access"]
  deliver "smtp" {
    address = %q
    tls = "none"
  }
}
`, wasm, grants, js, s.Addr)
	return relaytest.StartRelay(t, hcl), s
}

func sendMessage(rc *relaytest.Conn, subject string) {
	rc.Cmd("DATA", 354)
	rc.Send("Subject: " + subject + "\r\nFrom: a@example.org\r\n\r\nhello\r\n.\r\n")
	rc.Expect(250)
}

func TestE2EDeniedIPAtConnect(t *testing.T) {
	r, _ := startAccess(t, map[string]any{"deny": map[string]any{"ips": []string{"127.0.0.0/8"}}}, "[]")
	c, err := net.Dial("tcp", r.Addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 512)
	n, _ := c.Read(buf)
	if got := string(buf[:n]); !strings.HasPrefix(got, "554 5.7.1 Access denied: client [127.0.0.1]") {
		t.Fatalf("greeting %q", got)
	}
}

func TestE2EDeniedSenderAtMail(t *testing.T) {
	r, s := startAccess(t, map[string]any{"deny": map[string]any{
		"senders": []string{"@spam.example"}, "helo": []string{"*.bad.example"}, "recipients": []string{"closed@sink.test"}}}, "[]")
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	if got := rc.Cmd("EHLO host.bad.example", 550); !strings.HasPrefix(got, "5.7.1 HELO/EHLO name") {
		t.Errorf("HELO reply %q", got)
	}
	rc.Cmd("EHLO client.example", 250)
	if got := rc.Cmd("MAIL FROM:<x@spam.example>", 550); !strings.HasPrefix(got, "5.7.1 Sender address <x@spam.example> refused") {
		t.Errorf("MAIL reply %q", got)
	}
	rc.Cmd("MAIL FROM:<x@good.example>", 250)
	if got := rc.Cmd("RCPT TO:<closed@sink.test>", 550); !strings.HasPrefix(got, "5.7.1 Recipient address") {
		t.Errorf("RCPT reply %q", got)
	}
	rc.Cmd("RCPT TO:<open@sink.test>", 250)
	sendMessage(rc, "allowed")
	rc.Cmd("QUIT", 221)
	if m := s.WaitMessages(t, 1); len(m) != 1 || m[0].From != "x@good.example" {
		t.Fatalf("sink got %+v", m)
	}
}

func TestE2EGreylist(t *testing.T) {
	r, s := startAccess(t, map[string]any{"greylist": map[string]any{"enabled": true, "delay": 1}}, "[]")
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.example", 250)
	rc.Cmd("MAIL FROM:<a@example.org>", 250)
	start := time.Now()
	if got := rc.Cmd("RCPT TO:<u@sink.test>", 451); !strings.HasPrefix(got, "4.7.1 Greylisted") {
		t.Fatalf("first RCPT %q", got)
	}
	rc.Cmd("RSET", 250)
	// Retry the way a sending MTA would, until the triplet passes.
	for {
		rc.Cmd("MAIL FROM:<a@example.org>", 250)
		if err := rc.C.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		code, msg := cmdAny(t, rc, "RCPT TO:<u@sink.test>")
		if code == 250 {
			break
		}
		if code != 451 || !strings.HasPrefix(msg, "4.7.1 Greylisted") {
			t.Fatalf("retry got %d %s", code, msg)
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("still greylisted after 20s with a 1s delay")
		}
		rc.Cmd("RSET", 250)
		time.Sleep(200 * time.Millisecond)
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("passed greylisting after %v, before the 1s delay", el)
	}
	sendMessage(rc, "greylisted then accepted")
	rc.Cmd("QUIT", 221)
	s.WaitMessages(t, 1)
}

// cmdAny sends a command and returns whatever reply comes.
func cmdAny(t *testing.T, rc *relaytest.Conn, line string) (int, string) {
	t.Helper()
	rc.Send(line + "\r\n")
	buf := make([]byte, 1024)
	n, err := rc.C.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	reply := strings.TrimRight(string(buf[:n]), "\r\n")
	var code int
	fmt.Sscanf(reply, "%d", &code)
	if len(reply) < 4 {
		t.Fatalf("short reply %q", reply)
	}
	return code, reply[4:]
}

func TestE2ERateLimit(t *testing.T) {
	r, s := startAccess(t, map[string]any{"rate_limit": map[string]any{"per_ip": map[string]any{"messages": 2, "window": 3600}}}, "[]")
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.example", 250)
	for i := 0; i < 2; i++ {
		rc.Cmd("MAIL FROM:<a@example.org>", 250)
		rc.Cmd("RCPT TO:<u@sink.test>", 250)
		sendMessage(rc, fmt.Sprint("message ", i))
	}
	if got := rc.Cmd("MAIL FROM:<a@example.org>", 451); !strings.HasPrefix(got, "4.7.1 Too many messages from [127.0.0.1]") {
		t.Errorf("third MAIL %q", got)
	}
	rc.Cmd("QUIT", 221)
	s.WaitMessages(t, 2)
}

// dnsStub answers A queries for the names in hits with 127.0.0.2 and
// NXDOMAIN for everything else, on a loopback UDP port.
func dnsStub(t *testing.T, hits ...string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, h := range hits {
		listed[dns.Fqdn(h)] = true
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(q)
			if len(q.Question) == 1 && listed[strings.ToLower(q.Question[0].Name)] {
				if q.Question[0].Qtype == dns.TypeA {
					rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 127.0.0.2")
					m.Answer = append(m.Answer, rr)
				}
			} else {
				m.Rcode = dns.RcodeNameError
			}
			w.WriteMsg(m)
		})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// useResolver sends the process's default resolver to the stub until the
// test ends (the cleanup is registered before the relay's, so it runs after
// the relay stopped).
func useResolver(t *testing.T, stub string) {
	r := net.DefaultResolver
	preferGo, dial := r.PreferGo, r.Dial
	t.Cleanup(func() { r.PreferGo, r.Dial = preferGo, dial })
	r.PreferGo = true
	r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", stub)
	}
}

// TestE2EDNSBL points the plugin host's resolver (net.DefaultResolver,
// which plugin.HostOptions uses when the relay sets none) at a stub on
// loopback, which lists 127.0.0.1 on one zone of two.
func TestE2EDNSBL(t *testing.T) {
	stub := dnsStub(t, "1.0.0.127.bl.test")
	useResolver(t, stub)
	r, _ := startAccess(t, map[string]any{"dnsbl": map[string]any{"threshold": 2, "lists": []map[string]any{
		{"zone": "bl.test", "weight": 2}, {"zone": "clean.test", "weight": 1}}}}, `["dns"]`)
	c, err := net.Dial("tcp", r.Addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 512)
	n, _ := c.Read(buf)
	if got := string(buf[:n]); !strings.HasPrefix(got, "554 5.7.1 Client [127.0.0.1] blocked using bl.test") {
		t.Fatalf("greeting %q", got)
	}
}

// TestE2EDNSBLBelowThreshold: a hit whose weight stays under the
// threshold lets the client in.
func TestE2EDNSBLBelowThreshold(t *testing.T) {
	stub := dnsStub(t, "1.0.0.127.clean.test")
	useResolver(t, stub)
	r, _ := startAccess(t, map[string]any{"dnsbl": map[string]any{"threshold": 2, "lists": []map[string]any{
		{"zone": "bl.test", "weight": 2}, {"zone": "clean.test", "weight": 1}}}}, `["dns"]`)
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.example", 250)
	rc.Cmd("QUIT", 221)
}
