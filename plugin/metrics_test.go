package plugin

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// scrape fetches the metrics over HTTP, as Prometheus would, and returns
// the samples by their full name with labels.
func scrape(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	srv := httptest.NewServer(m)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sample := regexp.MustCompile(`^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$`)
	out := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		mm := sample.FindStringSubmatch(line)
		if mm == nil {
			t.Fatalf("not a Prometheus text sample: %q", line)
		}
		f, err := strconv.ParseFloat(mm[2], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out[mm[1]] = f
	}
	return out
}

// TestMetricsHostile runs a hostile plugin that loops, grows past its
// memory cap, panics, exits and answers invalid verdicts, next to a
// well-behaved one, then scrapes: every failure is counted under its kind,
// every answer under its verdict, and each failure recycled an instance.
func TestMetricsHostile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	shareCompilationCache(t, dir)
	m := NewMetrics()
	logs := &logBuffer{}
	hostile := func(name string, conf v) FilterSpec {
		return behave(t, name, conf, func(f *FilterSpec) {
			f.Timeout = 300 * time.Millisecond
			if name == "grow" { // reaching the cap takes longer than a loop's timeout under -race
				f.Timeout = 10 * time.Second
			}
			f.MemoryBytes = 32 << 20
			f.OnError = "continue"
		})
	}
	h, err := NewHost(ctx, []FilterSpec{
		hostile("loop", v{"mode": "loop"}),
		hostile("grow", v{"mode": "grow"}),
		hostile("panic", v{"mode": "panic"}),
		hostile("exit", v{"mode": "exit"}),
		hostile("bad", v{"verdicts": v{"data": v{"action": "reject", "code": 250}}}),
		behave(t, "good", v{"verdicts": v{"mail": v{"action": "reject", "code": 550, "text": "no"}}}, nil),
	}, HostOptions{DataDir: dir, Metrics: m, Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for _, name := range []string{"loop", "grow", "panic", "exit", "bad"} {
		c, _ := h.Chain([]string{name})
		for range 2 {
			if v, _ := c.Data(ctx, testTxn(), testMessage(t, simpleMsg)); v.Action != Continue {
				t.Fatalf("%s: %+v, want continue (on_error)", name, v)
			}
		}
	}
	good, _ := h.Chain([]string{"good"})
	for range 3 {
		good.Mail(ctx, testTxn())
	}
	good.Data(ctx, testTxn(), testMessage(t, simpleMsg))

	got := scrape(t, m)
	want := map[string]float64{
		`sluice_filter_errors_total{filter="loop",stage="data",kind="timeout"}`:       2,
		`sluice_filter_errors_total{filter="grow",stage="data",kind="oom"}`:           2,
		`sluice_filter_errors_total{filter="panic",stage="data",kind="trap"}`:         2,
		`sluice_filter_errors_total{filter="exit",stage="data",kind="exit"}`:          2,
		`sluice_filter_errors_total{filter="bad",stage="data",kind="invalid"}`:        2,
		`sluice_filter_errors_total{filter="bad",stage="data",kind="trap"}`:           0,
		`sluice_filter_calls_total{filter="loop",stage="data"}`:                       2,
		`sluice_filter_calls_total{filter="good",stage="mail"}`:                       3,
		`sluice_filter_verdicts_total{filter="good",stage="mail",action="reject"}`:    3,
		`sluice_filter_verdicts_total{filter="good",stage="data",action="continue"}`:  1,
		`sluice_filter_verdicts_total{filter="bad",stage="data",action="reject"}`:     0,
		`sluice_filter_duration_seconds_count{filter="good",stage="mail"}`:            3,
		`sluice_filter_duration_seconds_bucket{filter="good",stage="mail",le="+Inf"}`: 3,
		// Traps, timeouts, OOM and exits destroy the instance; an invalid answer does not.
		`sluice_filter_instance_recycles_total{filter="loop"}`:  2,
		`sluice_filter_instance_recycles_total{filter="grow"}`:  2,
		`sluice_filter_instance_recycles_total{filter="panic"}`: 2,
		`sluice_filter_instance_recycles_total{filter="exit"}`:  2,
		`sluice_filter_instances{filter="good"}`:                1,
		`sluice_filter_instances_idle{filter="good"}`:           1,
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s = %v (present %t), want %v", k, g, ok, w)
		}
	}
	// The loop hit the 300ms timeout twice: the histogram saw it.
	if s := got[`sluice_filter_duration_seconds_sum{filter="loop",stage="data"}`]; s < 0.6 {
		t.Errorf("loop latency sum %v s, want ≥ 0.6", s)
	}
	if n := got[`sluice_filter_duration_seconds_bucket{filter="loop",stage="data",le="0.25"}`]; n != 0 {
		t.Errorf("%v loop calls in the ≤ 0.25 s bucket, under a 300 ms timeout", n)
	}
	// Every non-continue verdict is in the structured log.
	if l := logs.String(); !strings.Contains(l, "filter verdict: stage=mail action=reject code=550") {
		t.Errorf("reject verdict not logged:\n%s", l)
	}
}

func TestFailureKind(t *testing.T) {
	for reason, kind := range map[string]string{
		"timeout: no answer within 5s":           ErrKindTimeout,
		"out of memory (limit 1 bytes): wasm":    ErrKindOOM,
		"trap: wasm error: unreachable":          ErrKindTrap,
		"plugin exited (proc_exit 3)":            ErrKindExit,
		"invalid output: result of 9 bytes":      ErrKindInvalid,
		"malformed result: EOF":                  ErrKindInvalid,
		"invalid changes: header X: bare LF":     ErrKindInvalid,
		"unknown action \"bounce\"":              ErrKindInvalid,
		"no instance available: context expired": ErrKindOther,
		"_initialize: trap: wasm error":          ErrKindOther, // a new instance failed to start
		"start function: timeout: no answer":     ErrKindOther,
	} {
		if got := failureKind(reason); got != kind {
			t.Errorf("%q: %s, want %s", reason, got, kind)
		}
	}
}
