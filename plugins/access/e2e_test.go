package main

import (
	"bufio"
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

// startAccess runs a live relay with one access filter per entry of
// confs, each the chain of the domain "<name>.test" and of the extra
// domains, all delivering to a sink. (Every filter compiles its module,
// which takes seconds under -race: tests use one filter.)
func startAccess(t *testing.T, confs map[string]map[string]any, domains []string, grants string) (*relaytest.Relay, *relaytest.Sink) {
	t.Helper()
	wasm := wasmtest.Build(t, "plugins/access")
	s := relaytest.StartSink(t, false, nil)
	var hcl strings.Builder
	for name, conf := range confs {
		js, err := json.Marshal(conf)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&hcl, `
filter %[1]q {
  wasm = %[2]q
  timeout = "30s"
  grants = %[3]s
  config = %[4]s
}
domain "%[1]s.test" {
  filters = [%[1]q]
  deliver "smtp" {
    address = %[5]q
    tls = "none"
  }
}
`, name, wasm, grants, js, s.Addr)
		for _, d := range domains {
			fmt.Fprintf(&hcl, "domain %q {\n  filters = [%q]\n  deliver \"smtp\" {\n    address = %q\n    tls = \"none\"\n  }\n}\n", d, name, s.Addr)
		}
	}
	return relaytest.StartRelay(t, hcl.String()), s
}

func sendMessage(rc *relaytest.Conn, subject string) {
	rc.Cmd("DATA", 354)
	rc.Send("Subject: " + subject + "\r\nFrom: a@example.org\r\n\r\nhello\r\n.\r\n")
	rc.Expect(250)
}

// greetingFrom connects from a loopback source address (127.0.0.0/8 is
// all local on Linux) and returns the relay's first reply line.
func greetingFrom(t *testing.T, addr, from string) string {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 30 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the greeting: %v", err)
	}
	return strings.TrimRight(line, "\r\n")
}

// TestE2EAccess runs the list, rate-limit and greylisting decisions
// through one live relay (one compile of the module; several filters).
func TestE2EAccess(t *testing.T) {
	r, s := startAccess(t, map[string]map[string]any{"access": {
		"deny": map[string]any{"ips": []string{"127.0.0.2/32"}, "senders": []string{"@spam.example"},
			"helo": []string{"*.bad.example"}, "recipients": []string{"closed@lists.test"}},
		// lists.test is not greylisted.
		"allow":      map[string]any{"recipients": []string{"@lists.test"}},
		"rate_limit": map[string]any{"per_sender": map[string]any{"messages": 20, "window": 3600}},
		"greylist":   map[string]any{"enabled": true, "delay": 1},
	}}, []string{"lists.test", "grey.test"}, "[]")

	t.Run("denied IP at connect", func(t *testing.T) {
		if got := greetingFrom(t, r.Addr("smtp"), "127.0.0.2"); !strings.HasPrefix(got, "554 5.7.1 Access denied: client [127.0.0.2]") {
			t.Fatalf("greeting %q", got)
		}
		if got := greetingFrom(t, r.Addr("smtp"), "127.0.0.3"); !strings.HasPrefix(got, "220 ") {
			t.Fatalf("greeting of an IP not denied %q", got)
		}
	})

	t.Run("denied HELO, sender and recipient", func(t *testing.T) {
		rc := relaytest.DialRaw(t, r.Addr("smtp"))
		if got := rc.Cmd("EHLO host.bad.example", 550); !strings.HasPrefix(got, "5.7.1 HELO/EHLO name") {
			t.Errorf("HELO reply %q", got)
		}
		rc.Cmd("EHLO client.example", 250)
		if got := rc.Cmd("MAIL FROM:<x@spam.example>", 550); !strings.HasPrefix(got, "5.7.1 Sender address <x@spam.example> refused") {
			t.Errorf("MAIL reply %q", got)
		}
		rc.Cmd("MAIL FROM:<x@good.example>", 250)
		if got := rc.Cmd("RCPT TO:<closed@lists.test>", 550); !strings.HasPrefix(got, "5.7.1 Recipient address") {
			t.Errorf("RCPT reply %q", got)
		}
		rc.Cmd("RCPT TO:<open@lists.test>", 250)
		sendMessage(rc, "allowed")
		rc.Cmd("QUIT", 221)
		if m := s.WaitMessages(t, 1); len(m) != 1 || m[0].From != "x@good.example" {
			t.Fatalf("sink got %+v", m)
		}
	})

	t.Run("rate limit", func(t *testing.T) {
		rc := relaytest.DialRaw(t, r.Addr("smtp"))
		rc.Cmd("EHLO client.example", 250)
		rc.Cmd("MAIL FROM:<bulk@example.org>", 250)
		rc.Cmd("RCPT TO:<u@lists.test>", 250)
		sendMessage(rc, "bulk")
		for i := 1; i < 20; i++ {
			rc.Cmd("MAIL FROM:<bulk@example.org>", 250)
			rc.Cmd("RSET", 250)
		}
		if got := rc.Cmd("MAIL FROM:<bulk@example.org>", 451); !strings.HasPrefix(got, "4.7.1 Too many messages from sender <bulk@example.org>") {
			t.Errorf("third MAIL %q", got)
		}
		rc.Cmd("MAIL FROM:<other@example.org>", 250)
		rc.Cmd("QUIT", 221)
	})

	t.Run("greylisting", func(t *testing.T) {
		rc := relaytest.DialRaw(t, r.Addr("smtp"))
		rc.Cmd("EHLO client.example", 250)
		rc.Cmd("MAIL FROM:<a@example.org>", 250)
		start := time.Now()
		if got := rc.Cmd("RCPT TO:<u@grey.test>", 451); !strings.HasPrefix(got, "4.7.1 Greylisted") {
			t.Fatalf("first RCPT %q", got)
		}
		// The lists filter's domain does not greylist.
		rc.Cmd("RCPT TO:<u@lists.test>", 250)
		rc.Cmd("RSET", 250)
		// Retry the way a sending MTA would, until the triplet passes.
		for {
			rc.Cmd("MAIL FROM:<a@example.org>", 250)
			code, msg := cmdAny(t, rc, "RCPT TO:<u@grey.test>")
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
	})
	s.WaitMessages(t, 3)
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
// loopback that lists 127.0.0.1 on bl.test (weight 2) and 127.0.0.5 on
// clean.test only (weight 1, under the threshold of 2).
func TestE2EDNSBL(t *testing.T) {
	stub := dnsStub(t, "1.0.0.127.bl.test", "5.0.0.127.clean.test")
	useResolver(t, stub)
	r, _ := startAccess(t, map[string]map[string]any{"dnsbl": {"dnsbl": map[string]any{"threshold": 2, "lists": []map[string]any{
		{"zone": "bl.test", "weight": 2}, {"zone": "clean.test", "weight": 1}}}}}, nil, `["dns"]`)
	if got := greetingFrom(t, r.Addr("smtp"), "127.0.0.1"); !strings.HasPrefix(got, "554 5.7.1 Client [127.0.0.1] blocked using bl.test") {
		t.Errorf("greeting of a listed client %q", got)
	}
	if got := greetingFrom(t, r.Addr("smtp"), "127.0.0.5"); !strings.HasPrefix(got, "220 ") {
		t.Errorf("greeting of a client under the threshold %q", got)
	}
	if got := greetingFrom(t, r.Addr("smtp"), "127.0.0.6"); !strings.HasPrefix(got, "220 ") {
		t.Errorf("greeting of an unlisted client %q", got)
	}
}
