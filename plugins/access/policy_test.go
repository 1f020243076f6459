package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/sdk"
)

type memKV map[string][]byte

func (m memKV) Get(k string) ([]byte, error) {
	v, ok := m[k]
	if !ok {
		return nil, errNotFound
	}
	return v, nil
}
func (m memKV) Put(k string, v []byte) error {
	if len(k) > 256 || len(v) > 64<<10 {
		return errors.New("too large")
	}
	m[k] = append([]byte(nil), v...)
	return nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func testEnv(c *clock, dns map[string][]string) env {
	return env{
		kv: memKV{},
		lookup: func(name string) ([]string, error) {
			if r, ok := dns[name]; ok {
				return r, nil
			}
			return nil, errNotFound
		},
		now: c.now,
		log: func(int, string) {},
	}
}

func mustPolicy(t *testing.T, js string) *policy {
	t.Helper()
	p, err := parsePolicy([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sess(ip string) sdk.Session { return sdk.Session{ClientIP: ip, Helo: "client.example"} }

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		ok   bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true}, {"a*c", "abcd", false},
		{"?b*", "abzz", true}, {"*@*.example.com", "x@mail.example.com", true},
		{"*@*.example.com", "x@example.com", false}, {"a*a*a*a*b", strings.Repeat("a", 200), false},
	} {
		if got := glob(c.p, c.s); got != c.ok {
			t.Errorf("glob(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

func TestMatchAddrAndHelo(t *testing.T) {
	entries := []string{"bad@one.example", "@two.example", "three.example", "@.four.example", "spam*@*", "<>"}
	for addr, want := range map[string]bool{
		"BAD@one.example": true, "good@one.example": false, "x@two.example": true, "x@sub.two.example": false,
		"x@three.example": true, "x@four.example": true, "x@a.four.example": true, "x@xfour.example": false,
		"spammer@z.example": true, "": true, "ham@z.example": false,
	} {
		if got := matchAddr(entries, addr); got != want {
			t.Errorf("matchAddr(%q) = %v, want %v", addr, got, want)
		}
	}
	if matchAddr([]string{"x.example"}, "") {
		t.Error("a domain entry matched the null sender")
	}
	helo := []string{"localhost", ".dyn.example", "*.pool.*"}
	for name, want := range map[string]bool{"LOCALHOST": true, "dyn.example": true, "a.b.dyn.example": true,
		"1.pool.isp.example": true, "mail.example": false, "adyn.example": false} {
		if got := matchHelo(helo, name); got != want {
			t.Errorf("matchHelo(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for _, js := range []string{
		`{"deny":{"ips":["300.1.1.1"]}}`,
		`{"deny":{"ips":["10.0.0.0/33"]}}`,
		`{"dnsbl":{"lists":[{"zone":""}]}}`,
		`{"dnsbl":{"stage":"data"}}`,
		`{"greylist":{"ipv4_prefix":40}}`,
		`{"rate_limit":{"per_ip":{"messages":5}}}`,
		`{"unknown":1}`,
		`{"deny":[1]}`,
	} {
		if _, err := parsePolicy([]byte(js)); err == nil {
			t.Errorf("%s: no error", js)
		}
	}
	if _, err := parsePolicy(nil); err != nil {
		t.Errorf("empty config: %v", err)
	}
}

func TestConnectHeloMailRcptLists(t *testing.T) {
	p := mustPolicy(t, `{
	  "allow": {"ips": ["192.0.2.10"], "recipients": ["postmaster@example.com"]},
	  "deny": {"ips": ["192.0.2.0/24", "2001:db8::/32"], "helo": ["localhost"], "senders": ["@spam.example"],
	           "recipients": ["nobody@example.com"], "users": ["mallory"]},
	  "domains": {"example.net": {"deny": {"senders": ["boss@example.org"]}}}
	}`)
	e := testEnv(&clock{time.Unix(1e9, 0)}, nil)
	if r := p.connect(e, sess("192.0.2.7")); r.Action != "reject" || r.Code != 554 || r.Enhanced != "5.7.1" {
		t.Errorf("denied IP: %+v", r)
	}
	if r := p.connect(e, sess("::ffff:192.0.2.7")); r.Action != "reject" {
		t.Errorf("mapped denied IP: %+v", r)
	}
	if r := p.connect(e, sess("2001:db8::1")); r.Action != "reject" {
		t.Errorf("denied IPv6: %+v", r)
	}
	if r := p.connect(e, sess("192.0.2.10")); r.Action != "continue" {
		t.Errorf("allowed IP inside a denied network: %+v", r)
	}
	if r := p.helo(sdk.Session{ClientIP: "198.51.100.1", Helo: "LocalHost"}); r.Code != 550 {
		t.Errorf("denied HELO: %+v", r)
	}
	if r := p.auth("mallory", true); r.Code != 535 || r.Enhanced != "5.7.8" {
		t.Errorf("denied user: %+v", r)
	}
	if r := p.mail(e, sess("198.51.100.1"), "x@spam.example"); r.Code != 550 || !strings.Contains(r.Text, "<x@spam.example>") {
		t.Errorf("denied sender: %+v", r)
	}
	if r := p.mail(e, sess("198.51.100.1"), "x@good.example"); r.Action != "continue" {
		t.Errorf("good sender: %+v", r)
	}
	if r := p.rcpt(e, sess("198.51.100.1"), "a@b.example", "nobody@example.com"); r.Code != 550 {
		t.Errorf("denied recipient: %+v", r)
	}
	if r := p.rcpt(e, sess("198.51.100.1"), "boss@example.org", "x@example.net"); r.Code != 550 {
		t.Errorf("per-domain denied sender: %+v", r)
	}
	if r := p.rcpt(e, sess("198.51.100.1"), "boss@example.org", "x@example.com"); r.Action != "continue" {
		t.Errorf("per-domain list applied to another domain: %+v", r)
	}
	// Non-ASCII addresses are not echoed into the reply.
	if r := p.mail(e, sess("198.51.100.1"), "ü@spam.example"); r.Text != "Sender address (address) refused by policy" {
		t.Errorf("non-ASCII sender text %q", r.Text)
	}
}

func TestGreylist(t *testing.T) {
	p := mustPolicy(t, `{"greylist": {"enabled": true, "delay": 60, "retry_window": 3600, "lifetime": 86400},
	  "allow": {"recipients": ["postmaster@example.com"]}}`)
	c := &clock{time.Unix(1.7e9, 0)}
	e := testEnv(c, nil)
	s := sess("198.51.100.7")
	r := p.rcpt(e, s, "a@sender.example", "u@example.com")
	if r.Code != 451 || r.Enhanced != "4.7.1" || !strings.Contains(r.Text, "60 seconds") {
		t.Fatalf("first attempt: %+v", r)
	}
	c.t = c.t.Add(30 * time.Second)
	if r := p.rcpt(e, s, "a@sender.example", "u@example.com"); r.Code != 451 || !strings.Contains(r.Text, "30 seconds") {
		t.Fatalf("early retry: %+v", r)
	}
	// Same /24, another address of the sender's pool: the same triplet.
	c.t = c.t.Add(31 * time.Second)
	if r := p.rcpt(e, sess("198.51.100.200"), "A@sender.example", "u@example.com"); r.Action != "continue" {
		t.Fatalf("retry after the delay: %+v", r)
	}
	// Another recipient is a new triplet; an allowed one, authenticated clients are never greylisted.
	if r := p.rcpt(e, s, "a@sender.example", "v@example.com"); r.Code != 451 {
		t.Errorf("new triplet: %+v", r)
	}
	if r := p.rcpt(e, s, "a@sender.example", "postmaster@example.com"); r.Action != "continue" {
		t.Errorf("allowed recipient: %+v", r)
	}
	if r := p.rcpt(e, sdk.Session{ClientIP: "203.0.113.1", AuthUser: "alice"}, "a@x.example", "u@example.com"); r.Action != "continue" {
		t.Errorf("authenticated: %+v", r)
	}
	// A passed triplet stays passed within its lifetime, then is forgotten.
	c.t = c.t.Add(23 * time.Hour)
	if r := p.rcpt(e, s, "a@sender.example", "u@example.com"); r.Action != "continue" {
		t.Errorf("passed triplet: %+v", r)
	}
	c.t = c.t.Add(25 * time.Hour)
	if r := p.rcpt(e, s, "a@sender.example", "u@example.com"); r.Code != 451 {
		t.Errorf("expired triplet: %+v", r)
	}
	// A refused triplet never retried within the window starts over.
	c.t = c.t.Add(2 * time.Hour)
	if r := p.rcpt(e, s, "a@sender.example", "u@example.com"); r.Code != 451 || !strings.Contains(r.Text, "60 seconds") {
		t.Errorf("retry after the window: %+v", r)
	}
}

func TestRateLimits(t *testing.T) {
	p := mustPolicy(t, `{"rate_limit": {"per_ip": {"messages": 3, "window": 60}, "per_sender": {"messages": 2, "window": 60}},
	  "allow": {"senders": ["vip@example.com"]}}`)
	c := &clock{time.Unix(1.7e9, 0)}
	e := testEnv(c, nil)
	s := sess("198.51.100.7")
	for i := 0; i < 2; i++ {
		if r := p.mail(e, s, "bulk@example.org"); r.Action != "continue" {
			t.Fatalf("message %d: %+v", i, r)
		}
	}
	if r := p.mail(e, s, "bulk@example.org"); r.Code != 451 || r.Enhanced != "4.7.1" || !strings.Contains(r.Text, "sender") {
		t.Fatalf("sender over limit: %+v", r)
	}
	// The refused transaction still counted for the IP (3 of 3), so the next is over.
	if r := p.mail(e, s, "other@example.org"); r.Code != 451 || !strings.Contains(r.Text, "[198.51.100.7]") {
		t.Fatalf("IP over limit: %+v", r)
	}
	if r := p.mail(e, sess("198.51.100.8"), "other@example.org"); r.Action != "continue" {
		t.Errorf("another IP: %+v", r)
	}
	if r := p.mail(e, s, "vip@example.com"); r.Action != "continue" {
		t.Errorf("allowed sender: %+v", r)
	}
	c.t = c.t.Add(61 * time.Second)
	if r := p.mail(e, s, "bulk@example.org"); r.Action != "continue" {
		t.Errorf("new window: %+v", r)
	}
}

func TestDNSBL(t *testing.T) {
	p := mustPolicy(t, `{"dnsbl": {"threshold": 2, "lists": [
	  {"zone": "big.example", "weight": 2}, {"zone": "small.example", "weight": 1}, {"zone": "other.example", "weight": 1}]}}`)
	e := testEnv(&clock{time.Unix(1e9, 0)}, map[string][]string{
		"7.2.0.192.big.example.":    {"127.0.0.2"},
		"8.2.0.192.small.example.":  {"127.0.0.4"},
		"9.2.0.192.small.example.":  {"127.0.0.2"},
		"9.2.0.192.other.example.":  {"127.0.0.3"},
		"10.2.0.192.big.example.":   {"127.255.255.254"}, // error code, not a listing
		"10.2.0.192.small.example.": {"127.0.0.2"},
		"10.2.0.192.other.example.": {"10.0.0.1"},
	})
	cases := map[string]bool{"192.0.2.7": true, "192.0.2.8": false, "192.0.2.9": true, "192.0.2.10": false, "192.0.2.11": false}
	for ip, want := range cases {
		r := p.connect(e, sess(ip))
		if got := r.Action == "reject"; got != want {
			t.Errorf("%s: %+v", ip, r)
		}
		if want && (r.Code != 554 || !strings.Contains(r.Text, "blocked using")) {
			t.Errorf("%s reply: %+v", ip, r)
		}
	}
	if r := p.connect(e, sdk.Session{ClientIP: "192.0.2.7", AuthUser: "alice"}); r.Action != "continue" {
		t.Errorf("authenticated client checked: %+v", r)
	}
	if got := reverseIP(netip.MustParseAddr("2001:db8::1")); got != "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2" {
		t.Errorf("reverse IPv6: %s", got)
	}
	denied := e
	denied.lookup = func(string) ([]string, error) { return nil, sdk.ErrDenied }
	if r := p.connect(denied, sess("192.0.2.7")); r.Action != "continue" {
		t.Errorf("without the dns grant: %+v", r)
	}
}

func TestBucketBounded(t *testing.T) {
	kv := memKV{}
	tb := &table{kv: kv, prefix: "t", buckets: 1}
	never := func(record) bool { return false }
	for i := 0; i < maxRecords+50; i++ {
		_, err := tb.update(fmt.Sprint(i), never, func(r record, found bool) (record, bool) {
			return record{first: int64(i), last: int64(i)}, true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(kv["t/0"]) / recordSize; n != maxRecords {
		t.Fatalf("bucket holds %d records", n)
	}
	// The oldest were evicted, the newest kept.
	found := false
	tb.update(fmt.Sprint(maxRecords+49), never, func(r record, f bool) (record, bool) { found = f; return r, false })
	if !found {
		t.Error("newest record evicted")
	}
	tb.update("0", never, func(r record, f bool) (record, bool) { found = f; return r, false })
	if found {
		t.Error("oldest record kept")
	}
	// Garbage in the store is read without panicking.
	kv["t/0"] = []byte("short")
	if _, err := tb.update("x", never, func(r record, f bool) (record, bool) { return r, true }); err != nil {
		t.Fatal(err)
	}
}

func TestDNSBLAtRcpt(t *testing.T) {
	p := mustPolicy(t, `{"dnsbl": {"stage": "rcpt", "lists": [{"zone": "bl.example"}]},
	  "allow": {"recipients": ["postmaster@example.com"]}}`)
	e := testEnv(&clock{time.Unix(1e9, 0)}, map[string][]string{"7.2.0.192.bl.example.": {"127.0.0.2"}})
	if r := p.connect(e, sess("192.0.2.7")); r.Action != "continue" {
		t.Errorf("connect with the rcpt stage: %+v", r)
	}
	if r := p.rcpt(e, sess("192.0.2.7"), "a@x.example", "u@example.com"); r.Code != 550 || r.Enhanced != "5.7.1" || !strings.Contains(r.Text, "bl.example") {
		t.Errorf("listed client at rcpt: %+v", r)
	}
	if r := p.rcpt(e, sess("192.0.2.7"), "a@x.example", "postmaster@example.com"); r.Action != "continue" {
		t.Errorf("allowed recipient: %+v", r)
	}
}
