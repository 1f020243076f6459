package deliver

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/sluice-mail/sluice/mta/config"
)

// stubDNS is an authoritative-looking DNS server on loopback UDP that
// answers from a fixed zone and records the questions it was asked.
type stubDNS struct {
	rrs   map[string][]dns.RR // "name. TYPE" -> answers
	rcode map[string]int      // "name." -> rcode for every type

	mu  sync.Mutex
	log []string
}

func newStubDNS(t *testing.T, zone ...string) *stubDNS {
	z := &stubDNS{rrs: make(map[string][]dns.RR), rcode: make(map[string]int)}
	for _, line := range zone {
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		key := rr.Header().Name + " " + dns.TypeToString[rr.Header().Rrtype]
		z.rrs[key] = append(z.rrs[key], rr)
	}
	return z
}

func (z *stubDNS) start(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(z.serve), NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func (z *stubDNS) serve(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	if len(q.Question) == 1 {
		name := strings.ToLower(q.Question[0].Name)
		key := name + " " + dns.TypeToString[q.Question[0].Qtype]
		z.mu.Lock()
		z.log = append(z.log, key)
		z.mu.Unlock()
		if rc, ok := z.rcode[name]; ok {
			m.Rcode = rc
		} else {
			m.Answer = z.rrs[key]
		}
	}
	w.WriteMsg(m)
}

func (z *stubDNS) questions() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]string(nil), z.log...)
}

// mxTo builds an mx transport that resolves with z and connects to the
// sink's port on whatever address the zone gives.
func mxTo(t *testing.T, z *stubDNS, sinkAddr string) Transport {
	t.Helper()
	_, port, err := net.SplitHostPort(sinkAddr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return newTransport(t, config.Delivery{Method: config.DeliverMX, Resolver: z.start(t), Port: p, TLS: config.TLSOpportunistic}, Options{})
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func TestMXPreferenceOrderAndConnectFallback(t *testing.T) {
	// The preferred host only has an IPv6 address where nothing listens;
	// the second host is the sink.
	z := newStubDNS(t,
		"example.net. 60 IN MX 20 b.example.net.",
		"example.net. 60 IN MX 10 a.example.net.",
		"a.example.net. 60 IN AAAA ::1",
		"b.example.net. 60 IN A 127.0.0.1",
	)
	s := &sink{}
	tr := mxTo(t, z, s.start(t, sinkOpts{}))
	rcpts := []string{"bob@example.net", "carol@Example.NET"}
	res := tr.Deliver(context.Background(), testMessage(testBody), rcpts)
	checkResults(t, res, rcpts, []expect{wantOK, wantOK})
	q := z.questions()
	a, b := indexOf(q, "a.example.net. AAAA"), indexOf(q, "b.example.net. A")
	if a < 0 || b < 0 || a > b {
		t.Errorf("questions %v: preferred host a must be looked up before b", q)
	}
	if msgs := s.messages(); len(msgs) != 1 || len(msgs[0].Rcpts) != 2 || msgs[0].Data != testBody {
		t.Errorf("sink got %+v", msgs)
	}
}

func TestMXTransientFailureMovesToNextHost(t *testing.T) {
	z := newStubDNS(t,
		"example.net. 60 IN MX 10 a.example.net.",
		"example.net. 60 IN MX 20 b.example.net.",
		"a.example.net. 60 IN A 127.0.0.1",
		"b.example.net. 60 IN A 127.0.0.1",
	)
	// The first host defers one recipient and rejects another; only the
	// deferred one is tried again at the second host.
	s := &sink{rcpt: func(conn int, to string) error {
		switch {
		case strings.HasPrefix(to, "perm"):
			return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no such user")
		case conn == 1 && strings.HasPrefix(to, "later"):
			return smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "greylisted")
		}
		return nil
	}}
	tr := mxTo(t, z, s.start(t, sinkOpts{}))
	rcpts := []string{"now@example.net", "later@example.net", "perm@example.net"}
	res := tr.Deliver(context.Background(), testMessage(testBody), rcpts)
	checkResults(t, res, rcpts, []expect{wantOK, wantOK, wantPerm})
	msgs := s.messages()
	if len(msgs) != 2 || strings.Join(msgs[0].Rcpts, ",") != "now@example.net" ||
		strings.Join(msgs[1].Rcpts, ",") != "later@example.net" || msgs[1].Conn != 2 {
		t.Errorf("sink got %+v, want now@ on the first host and later@ on the second", msgs)
	}
}

func TestMXPermanentFailureIsFinal(t *testing.T) {
	z := newStubDNS(t,
		"example.net. 60 IN MX 10 a.example.net.",
		"example.net. 60 IN MX 20 b.example.net.",
		"a.example.net. 60 IN A 127.0.0.1",
		"b.example.net. 60 IN A 127.0.0.1",
	)
	s := &sink{data: func(int) error { return smtpErr(554, smtp.EnhancedCode{5, 7, 1}, "spam") }}
	tr := mxTo(t, z, s.start(t, sinkOpts{}))
	res := tr.Deliver(context.Background(), testMessage(testBody), []string{"bob@example.net"})
	checkResults(t, res, []string{"bob@example.net"}, []expect{wantPerm})
	if c := s.connections(); c != 1 {
		t.Errorf("%d connections: a 5xx must not be retried at the next host", c)
	}
}

func TestMXLookupOutcomes(t *testing.T) {
	s := &sink{}
	for _, tc := range []struct {
		name     string
		zone     []string
		rcode    map[string]int
		want     expect
		code     int
		enhanced string
	}{
		{"no MX falls back to A", []string{"example.net. 60 IN A 127.0.0.1"}, nil, wantOK, 250, ""},
		{"null MX", []string{"example.net. 60 IN MX 0 ."}, nil, wantPerm, 556, "5.1.10"},
		{"domain does not exist", nil, map[string]int{"example.net.": dns.RcodeNameError}, wantPerm, 550, "5.1.2"},
		{"no MX and no address", nil, nil, wantPerm, 550, "5.1.2"},
		{"resolver failure", nil, map[string]int{"example.net.": dns.RcodeServerFailure}, wantTemp, 0, ""},
		{"MX host without address", []string{"example.net. 60 IN MX 10 gone.example.net."}, nil, wantTemp, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := newStubDNS(t, tc.zone...)
			for k, v := range tc.rcode {
				z.rcode[k] = v
			}
			tr := mxTo(t, z, s.start(t, sinkOpts{}))
			res := tr.Deliver(context.Background(), testMessage(testBody), []string{"bob@example.net"})
			checkResults(t, res, []string{"bob@example.net"}, []expect{tc.want})
			if res[0].Code != tc.code || (tc.enhanced != "" && res[0].Enhanced != tc.enhanced) {
				t.Errorf("got %v, want %d %s", res[0], tc.code, tc.enhanced)
			}
			t.Logf("result: %v", res[0])
		})
	}
}

func TestMXEqualPreferenceIsShuffled(t *testing.T) {
	z := newStubDNS(t,
		"example.net. 60 IN MX 10 a.example.net.",
		"example.net. 60 IN MX 10 b.example.net.",
		"example.net. 60 IN MX 5 first.example.net.",
		"example.net. 60 IN MX 20 last.example.net.",
	)
	m := newMX(config.Delivery{}, z.start(t), 25, Options{}.withDefaults())
	seen := make(map[string]bool)
	for range 64 {
		hosts, err := m.lookupMX(context.Background(), "example.net")
		if err != nil {
			t.Fatal(err)
		}
		if len(hosts) != 4 || hosts[0].name != "first.example.net" || hosts[3].name != "last.example.net" {
			t.Fatalf("order %+v", hosts)
		}
		seen[hosts[1].name] = true
	}
	if !seen["a.example.net"] || !seen["b.example.net"] {
		t.Errorf("equal-preference hosts never swapped in 64 lookups: %v", seen)
	}
}

func TestDestinationKey(t *testing.T) {
	for _, tc := range []struct {
		d      config.Delivery
		domain string
		want   string
	}{
		{config.Delivery{Method: config.DeliverSMTP, Network: "tcp", Address: "127.0.0.1:2526"}, "x.org", "smtp:127.0.0.1:2526"},
		{config.Delivery{Method: config.DeliverLMTP, Network: "unix", Address: "/run/x"}, "x.org", "lmtp:unix:/run/x"},
		{config.Delivery{Method: config.DeliverLMTP, Network: "tcp", Address: "[::1]:24"}, "x.org", "lmtp:[::1]:24"},
		{config.Delivery{Method: config.DeliverMaildir, Path: "/m/{local}"}, "Example.ORG", "maildir:example.org"},
		{config.Delivery{Method: config.DeliverMX}, "Example.org.", "mx:example.org"},
	} {
		if got := DestinationKey(tc.d, tc.domain); got != tc.want {
			t.Errorf("%s %s: got %q, want %q", tc.d.Method, tc.domain, got, tc.want)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    config.Delivery
		opts Options
	}{
		{"unknown method", config.Delivery{Method: "carrier-pigeon"}, Options{}},
		{"maildir without path", config.Delivery{Method: config.DeliverMaildir}, Options{}},
		{"maildir data_dir unset", config.Delivery{Method: config.DeliverMaildir, Path: "{data_dir}/m"}, Options{}},
		{"smtp bad address", config.Delivery{Method: config.DeliverSMTP, Address: "no-port"}, Options{}},
		{"smtp bad network", config.Delivery{Method: config.DeliverSMTP, Network: "udp", Address: "h:25"}, Options{}},
		{"smtp bad tls", config.Delivery{Method: config.DeliverSMTP, Address: "h:25", TLS: "maybe"}, Options{}},
		{"verify over unix", config.Delivery{Method: config.DeliverSMTP, Network: "unix", Address: "/s", TLS: config.TLSVerify}, Options{}},
		{"lmtp empty socket", config.Delivery{Method: config.DeliverLMTP, Network: "unix"}, Options{}},
		{"mx with auth", config.Delivery{Method: config.DeliverMX, Resolver: "127.0.0.1:53", AuthUser: "u"}, Options{}},
		{"mx bad resolver", config.Delivery{Method: config.DeliverMX, Resolver: "nope"}, Options{}},
		{"mx bad port", config.Delivery{Method: config.DeliverMX, Resolver: "127.0.0.1:53", Port: 70000}, Options{}},
		{"hostname with space", config.Delivery{Method: config.DeliverMaildir, Path: "/m"}, Options{Hostname: "a b"}},
	} {
		if tr, err := New(tc.d, tc.opts); err == nil {
			tr.Close()
			t.Errorf("%s: New accepted %+v", tc.name, tc.d)
		}
	}
}

// TestMXInternationalizedDomain: a recipient domain written with U-labels
// (SMTPUTF8 mail) is looked up by its A-labels, as DNS holds it.
func TestMXInternationalizedDomain(t *testing.T) {
	z := newStubDNS(t, "xn--bcher-kva.example. 60 IN MX 10 mx.xn--bcher-kva.example.")
	m := newMX(config.Delivery{}, z.start(t), 25, Options{}.withDefaults())
	for _, domain := range []string{"bücher.example", "xn--bcher-kva.example"} {
		hosts, err := m.lookupMX(context.Background(), domain)
		if err != nil || len(hosts) != 1 || hosts[0].name != "mx.xn--bcher-kva.example" {
			t.Errorf("lookupMX(%q) = %+v, %v", domain, hosts, err)
		}
	}
}
