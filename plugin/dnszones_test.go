package plugin

import (
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

func TestDNSZoneName(t *testing.T) {
	zones := []string{"zen.spamhaus.org", "dnswl.org", "xn--bcher-kva.example", "in-addr.arpa"}
	tests := []struct {
		typ, name, want string
		valid, in       bool
	}{
		{"A", "2.0.0.127.zen.spamhaus.org", "2.0.0.127.zen.spamhaus.org", true, true},
		{"A", "zen.spamhaus.org", "zen.spamhaus.org", true, true},
		{"TXT", "2.0.0.127.ZEN.SpamHaus.ORG.", "2.0.0.127.zen.spamhaus.org", true, true},
		{"A", "evilzen.spamhaus.org", "evilzen.spamhaus.org", true, false},
		{"A", "spamhaus.org", "spamhaus.org", true, false},
		{"A", "zen.spamhaus.org.evil.example", "zen.spamhaus.org.evil.example", true, false},
		{"A", "secret.evil.example", "secret.evil.example", true, false},
		{"A", "x.list.dnswl.org", "x.list.dnswl.org", true, true},
		{"TXT", "s._domainkey.dnswl.org", "s._domainkey.dnswl.org", true, true},
		{"A", "www.Bücher.example", "www.xn--bcher-kva.example", true, true},
		{"A", "bücher.example.evil", "xn--bcher-kva.example.evil", true, false},
		{"A", "zen.spamhaus.org..", "", false, false},
		{"A", "a..zen.spamhaus.org", "", false, false},
		{"A", "a b.zen.spamhaus.org", "", false, false},
		{"A", `evil\.example.zen.spamhaus.org`, "", false, false},
		{"A", "evil.example\x00.zen.spamhaus.org", "", false, false},
		{"A", strings.Repeat("a", 64) + ".zen.spamhaus.org", "", false, false},
		{"A", ".", "", false, false},
		{"PTR", "192.0.2.7", "7.2.0.192.in-addr.arpa", true, true},
		{"ptr", "::ffff:192.0.2.7", "7.2.0.192.in-addr.arpa", true, true},
		{"PTR", "2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", true, false},
		{"PTR", "7.2.0.192.in-addr.arpa", "", false, false},
	}
	for _, tt := range tests {
		got, ok := dnsZoneName(tt.typ, tt.name)
		if ok != tt.valid || got != tt.want {
			t.Errorf("dnsZoneName(%s, %q) = %q, %t; want %q, %t", tt.typ, tt.name, got, ok, tt.want, tt.valid)
			continue
		}
		if ok && inZones(got, zones) != tt.in {
			t.Errorf("inZones(%q) = %t, want %t", got, !tt.in, tt.in)
		}
	}
}

// TestDNSZones: with dns_zones, the dns grant answers names in the zones
// (asked as A-labels) and refuses others with "capability not granted"
// before any query leaves the host.
func TestDNSZones(t *testing.T) {
	addr, asked := recordingDNS(t)
	names := []string{
		"stub.test", "A.STUB.test.", "evilstub.test", "stub.test.evil.example", "secret.evil.example",
		"www.bücher.example", "bad name.stub.test",
	}
	h := newTestHost(t,
		behave(t, "zoned", v{"mode": "dns", "dns_names": names}, func(f *FilterSpec) {
			f.Grants, f.Resolver, f.DNSZones = []string{"dns"}, addr, []string{"stub.test", "xn--bcher-kva.example"}
		}),
		behave(t, "open", v{"mode": "dns", "dns_names": []string{"secret.evil.example"}}, func(f *FilterSpec) {
			f.Grants, f.Resolver = []string{"dns"}, addr
		}),
	)
	_, ch := runStage(t, h.chain(t, "zoned"), "data")
	var got []string
	for _, c := range ch.Headers {
		got = append(got, c.Value)
	}
	want := []string{
		"[192.0.2.53] <nil>",
		"[] sluice: not found",
		"[] sluice: capability not granted",
		"[] sluice: capability not granted",
		"[] sluice: capability not granted",
		"[192.0.2.54] <nil>",
		"[] sluice: invalid argument",
	}
	if !slices.Equal(got, want) {
		t.Errorf("answers\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantAsked := []string{"stub.test.", "a.stub.test.", "www.xn--bcher-kva.example."}
	if q := asked(); !slices.Equal(q, wantAsked) {
		t.Errorf("queries %q, want %q", q, wantAsked)
	}
	if n := strings.Count(h.logs.String(), "outside dns_zones"); n != 1 {
		t.Errorf("%d refusals logged, want 1 per event:\n%s", n, h.logs.String())
	}
	// Without dns_zones, any name is asked.
	_, ch = runStage(t, h.chain(t, "open"), "data")
	if v := ch.Headers[0].Value; v != "[] sluice: not found" || !slices.Contains(asked(), "secret.evil.example.") {
		t.Errorf("without zones: %q, queries %q", v, asked())
	}
}

// recordingDNS answers A queries for stub.test (192.0.2.53) and
// www.xn--bcher-kva.example (192.0.2.54), NXDOMAIN for others, on a
// loopback UDP port, and records every name asked.
func recordingDNS(t *testing.T) (string, func() []string) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var names []string
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		name := strings.ToLower(q.Question[0].Name)
		mu.Lock()
		if q.Question[0].Qtype == dns.TypeA {
			names = append(names, name)
		}
		mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(q)
		ip := map[string]string{"stub.test.": "192.0.2.53", "www.xn--bcher-kva.example.": "192.0.2.54"}[name]
		switch {
		case ip == "":
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			rr, _ := dns.NewRR(name + " 60 IN A " + ip)
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(names)
	}
}
