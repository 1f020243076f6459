package metrics_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
)

// scrape fetches url as Prometheus does and parses the text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape is not the Prometheus text format: %v", err)
	}
	return fams
}

// value returns the value of the sample of family name whose labels
// include every "name=value" pair given, and whether there is exactly one.
// A histogram's value is its sample count.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	var found []*dto.Metric
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		if !slices.ContainsFunc(labels, func(kv string) bool {
			k, v, _ := strings.Cut(kv, "=")
			return have[k] != v
		}) {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		return 0, false
	}
	m := found[0]
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount()), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

// waitMetrics scrapes until cond holds for a scrape, and returns that one.
func waitMetrics(t *testing.T, url, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		fams := scrape(t, url)
		if cond(fams) {
			return fams
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func is(fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) bool {
	v, ok := value(fams, name, labels...)
	return ok && v == want
}

// TestRelayMetricsLive runs a relay with metrics_listen and a filter, then
// sends, rejects and delivers mail through it and scrapes /metrics over
// HTTP: the received and rejected counters per listener, stage and
// reason, the delivery outcomes per domain block (never the raw recipient
// domain), the latency histograms, the queue gauges, the connection
// counters and the 421 of a connection limit, the filter's own metrics
// and the Go collectors, all in one exposition.
func TestRelayMetricsLive(t *testing.T) {
	wasm := wasmtest.Build(t, "examples/plugin-tagger")
	sink := relaytest.StartSink(t, false, func(rcpt string) error {
		if strings.HasPrefix(rcpt, "nobody@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}
		return nil
	})
	dead := relaytest.FreeAddr(t) // nothing listens there: every attempt is deferred
	r := relaytest.StartRelay(t, fmt.Sprintf(`
metrics_listen = "127.0.0.1:0"
limits { max_connections_per_ip = 3 }
filter "tagger" {
  wasm   = %q
  config = { domains = ["example.com"], reject = ["spam@bad.example"] }
}
domain "example.com" {
  filters = ["tagger"]
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
domain "dead.example" {
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
`, wasm, sink.Addr, dead))
	if r.MetricsURL == "" {
		t.Fatal("relaytest started no metrics server for metrics_listen")
	}

	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<spam@bad.example>", 550) // the filter, mail stage: 5.7.1
	rc.Cmd("MAIL FROM:<alice@client.test>", 250)
	rc.Cmd("RCPT TO:<bob@example.com>", 250)
	// Bounced by the sink; NOTIFY=NEVER: no DSN to alice@client.test,
	// which no domain block routes (it would be labelled "none").
	rc.Cmd("RCPT TO:<nobody@example.com> NOTIFY=NEVER", 250)
	rc.Cmd("RCPT TO:<carol@elsewhere.example>", 554)
	rc.Cmd("DATA", 354)
	rc.Send("Subject: one\r\n\r\nhello\r\n.\r\n")
	rc.Expect(250)
	rc.Cmd("MAIL FROM:<alice@client.test>", 250)
	rc.Cmd("RCPT TO:<stuck@dead.example>", 250)
	rc.Cmd("DATA", 354)
	rc.Send("Subject: two\r\n\r\nhello\r\n.\r\n")
	rc.Expect(250)
	rc.Cmd("MAIL FROM:<alice@client.test>", 250)
	rc.Cmd("RCPT TO:<bob@example.com>", 250)
	rc.Cmd("DATA", 354)
	rc.Send("Subject: bare\nLF\r\n\r\nhello\r\n.\r\n")
	rc.Expect(554) // 5.6.11
	rc.Cmd("QUIT", 221)

	lc := relaytest.DialRaw(t, r.Addr("lmtp"))
	lc.Cmd("LHLO client.test", 250)
	lc.Cmd("MAIL FROM:<alice@client.test>", 250)
	lc.Cmd("RCPT TO:<dave@example.com>", 250)
	lc.Cmd("DATA", 354)
	lc.Send("Subject: three\r\n\r\nhello\r\n.\r\n")
	lc.Expect(250)
	lc.Cmd("QUIT", 221)

	sc := relaytest.DialRaw(t, r.Addr("submission"))
	sc.Cmd("EHLO client.test", 250)
	sc.Cmd("MAIL FROM:<alice@client.test>", 530) // 5.7.0 authentication required
	sc.Cmd("QUIT", 221)

	sink.WaitMessages(t, 2)
	const dc, del = "domain=example.com", "domain=dead.example"
	fams := waitMetrics(t, r.MetricsURL, "the deliveries and a deferral", func(f map[string]*dto.MetricFamily) bool {
		v, _ := value(f, "sluice_deliveries_total", del, "status=deferred")
		return is(f, 2, "sluice_deliveries_total", dc, "status=delivered") &&
			is(f, 1, "sluice_deliveries_total", dc, "status=bounced") && v >= 1 &&
			is(f, 1, "sluice_queue_messages") && is(f, 0, "sluice_connections_open", "listener=smtp") &&
			is(f, 0, "sluice_connections_open", "listener=lmtp") && is(f, 0, "sluice_connections_open", "listener=submission")
	})
	check := func(want float64, name string, labels ...string) {
		t.Helper()
		if v, ok := value(fams, name, labels...); !ok || v != want {
			t.Errorf("%s%v = %v (found %v), want %v", name, labels, v, ok, want)
		}
	}
	check(2, "sluice_messages_received_total", "listener=smtp")
	check(1, "sluice_messages_received_total", "listener=lmtp")
	check(0, "sluice_messages_received_total", "listener=submission")
	check(1, "sluice_messages_rejected_total", "listener=smtp", "stage=mail", "class=permanent", "reason=policy")
	check(1, "sluice_messages_rejected_total", "listener=smtp", "stage=rcpt", "class=permanent", "reason=policy")
	check(1, "sluice_messages_rejected_total", "listener=smtp", "stage=data", "class=permanent", "reason=content")
	check(1, "sluice_messages_rejected_total", "listener=submission", "stage=mail", "class=permanent", "reason=policy")
	if n := len(fams["sluice_messages_rejected_total"].GetMetric()); n != 4 {
		t.Errorf("%d rejection series, want the 4 above", n)
	}
	check(0, "sluice_deliveries_total", dc, "status=expired")
	check(0, "sluice_deliveries_total", del, "status=delivered")
	for _, m := range fams["sluice_deliveries_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "domain" && l.GetValue() != "example.com" && l.GetValue() != "dead.example" {
				t.Errorf("deliveries labelled with domain %q, not a domain block", l.GetValue())
			}
		}
	}
	check(2, "sluice_delivery_delay_seconds", dc) // the histogram's count: one per delivered recipient
	if _, ok := value(fams, "sluice_delivery_delay_seconds", del); ok {
		t.Error("a delay observed for dead.example, which delivered nothing")
	}
	// Two attempts to the sink (one per message) and at least one to the dead hop.
	if v, _ := value(fams, "sluice_delivery_attempt_duration_seconds", "transport=smtp"); v < 3 {
		t.Errorf("attempt durations observed: %v, want at least 3", v)
	}
	if v, ok := value(fams, "sluice_queue_oldest_message_age_seconds"); !ok || v <= 0 {
		t.Errorf("oldest message age %v (%v), want > 0 with a message stuck", v, ok)
	}
	check(1, "sluice_connections_total", "listener=smtp")
	check(1, "sluice_connections_total", "listener=lmtp")
	check(1, "sluice_connections_total", "listener=submission")
	// The filter's metrics are served by the same endpoint.
	check(1, "sluice_filter_verdicts_total", "filter=tagger", "stage=mail", "action=reject")
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s: the runtime and process collectors are missing", name)
		}
	}

	// A connection limit: three held connections, the fourth gets 421.
	for range 3 {
		relaytest.DialRaw(t, r.Addr("smtp")).Cmd("NOOP", 250)
	}
	c, err := net.Dial("tcp", r.Addr("smtp"))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	code, msg, err := textproto.NewReader(bufio.NewReader(c)).ReadResponse(421)
	c.Close()
	if err != nil {
		t.Fatalf("fourth connection: %d %s: %v", code, msg, err)
	}
	fams = scrape(t, r.MetricsURL)
	check(1, "sluice_connections_refused_total", "listener=smtp", "limit=max_connections_per_ip")
	check(3, "sluice_connections_open", "listener=smtp")
	check(4, "sluice_connections_total", "listener=smtp") // the refused one was never admitted
}

// TestQueueGaugeDeadNextHop queues mail for a next hop that refuses every
// connection: the queue gauge counts it, the oldest message's age is at
// least the time since its 250 and at most the time since before it was
// sent, and every attempt is a deferral.
func TestQueueGaugeDeadNextHop(t *testing.T) {
	dead := relaytest.FreeAddr(t)
	r := relaytest.StartRelay(t, fmt.Sprintf(`
metrics_listen = "127.0.0.1:0"
domain "dead.example" {
  deliver "smtp" {
    address = %q
    tls     = "none"
  }
}
`, dead))
	fams := scrape(t, r.MetricsURL)
	if !is(fams, 0, "sluice_queue_messages") || !is(fams, 0, "sluice_queue_oldest_message_age_seconds") {
		t.Errorf("empty queue: %v messages, age %v", fams["sluice_queue_messages"], fams["sluice_queue_oldest_message_age_seconds"])
	}

	start := time.Now()
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	var accepted time.Time
	for i := range 3 {
		rc.Cmd("MAIL FROM:<alice@client.test>", 250)
		rc.Cmd(fmt.Sprintf("RCPT TO:<user%d@dead.example>", i), 250)
		rc.Cmd("DATA", 354)
		rc.Send("Subject: stuck\r\n\r\nhello\r\n.\r\n")
		rc.Expect(250)
		if i == 0 {
			accepted = time.Now()
		}
	}
	rc.Cmd("QUIT", 221)

	waitMetrics(t, r.MetricsURL, "a second attempt for each message", func(f map[string]*dto.MetricFamily) bool {
		v, _ := value(f, "sluice_deliveries_total", "domain=dead.example", "status=deferred")
		return v >= 6
	})
	before := time.Now()
	fams = scrape(t, r.MetricsURL)
	elapsed := time.Since(start)
	if v, ok := value(fams, "sluice_queue_messages"); !ok || v != 3 {
		t.Errorf("sluice_queue_messages = %v (%v), want 3", v, ok)
	}
	age, ok := value(fams, "sluice_queue_oldest_message_age_seconds")
	if !ok || age < before.Sub(accepted).Seconds() || age > elapsed.Seconds() {
		t.Errorf("oldest age %vs, want between %vs and %vs", age, before.Sub(accepted).Seconds(), elapsed.Seconds())
	}
	for _, s := range []string{"delivered", "bounced", "expired"} {
		if !is(fams, 0, "sluice_deliveries_total", "domain=dead.example", "status="+s) {
			t.Errorf("dead.example %s is not 0", s)
		}
	}
}
