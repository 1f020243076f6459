package main

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluice-mail/sluice/internal/relaytest"
)

// sample returns the value of the one sample of name whose labels include
// every "name=value" given; false when there is not exactly one.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	var found []*dto.Metric
	for _, m := range fams[name].GetMetric() {
		ok := true
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			has := false
			for _, l := range m.GetLabel() {
				has = has || (l.GetName() == k && l.GetValue() == v)
			}
			ok = ok && has
		}
		if ok {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		return 0, false
	}
	if c := found[0].GetCounter(); c != nil {
		return c.GetValue(), true
	}
	return found[0].GetGauge().GetValue(), true
}

// TestServeMetrics runs the binary with metrics_listen and a next hop that
// is down at first: /metrics shows the message received, deferred and
// queued, then delivered once the next hop is up, with the Go runtime's
// metrics beside the relay's.
func TestServeMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen, hop, metricsAddr := relaytest.FreeAddr(t), relaytest.FreeAddr(t), relaytest.FreeAddr(t)
	cfg := writeConfig(t, dir, fmt.Sprintf("metrics_listen = %q\n", metricsAddr)+relayConfig(listen, "metrics.test", hop))
	p := startSluice(t, dir, "serve", "-config", cfg)
	p.waitListening(listen)
	p.waitListening(metricsAddr)
	scrape := func() map[string]*dto.MetricFamily {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		parser := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatalf("/metrics: %v", err)
		}
		return fams
	}
	is := func(f map[string]*dto.MetricFamily, want float64, name string, labels ...string) bool {
		v, ok := sample(f, name, labels...)
		return ok && v == want
	}

	send(t, listen, "alice@sender.e2e.test", "bob@metrics.test", testMessage)
	poll(t, "a deferral with the message queued", func() bool {
		f := scrape()
		v, _ := sample(f, "sluice_deliveries_total", "domain=metrics.test", "status=deferred")
		return v >= 1 && is(f, 1, "sluice_queue_messages")
	})
	f := scrape()
	if !is(f, 1, "sluice_messages_received_total", "listener=smtp") {
		t.Errorf("sluice_messages_received_total{listener=smtp}: %v", f["sluice_messages_received_total"])
	}
	if _, ok := f["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}

	startSink(t, hop)
	poll(t, "the delivery and an empty queue", func() bool {
		f := scrape()
		return is(f, 1, "sluice_deliveries_total", "domain=metrics.test", "status=delivered") &&
			is(f, 0, "sluice_queue_messages") && is(f, 0, "sluice_queue_oldest_message_age_seconds")
	})
	if code := p.signal(syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM: %d", code)
	}
}
