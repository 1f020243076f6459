package plugin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// Metrics counts what the filters do, per filter and stage: calls, verdicts
// by action, failures by kind and a latency histogram, plus each filter's
// instance pool and recycles. One Metrics outlives plugin reloads (pass it
// to every NewHost), so counters keep counting across a SIGHUP. It writes
// the Prometheus text exposition format (version 0.0.4) by hand: the format
// is small and this keeps the relay free of a metrics dependency.
type Metrics struct {
	mu       sync.Mutex
	stages   map[stageKey]*stageMetrics
	recycles map[string]*atomic.Uint64
	host     atomic.Pointer[Host] // the host whose pools the gauges show

	// onFailure, when set, sees every failed call (plugin check uses it).
	onFailure func(filter, stage, kind, reason string)
}

type stageKey struct{ filter, stage string }

// Failure kinds, the "kind" label of sluice_filter_errors_total.
const (
	ErrKindTrap    = "trap"    // a trap: Go panic, Rust abort, unreachable, bad memory access
	ErrKindTimeout = "timeout" // no answer within the filter's timeout
	ErrKindOOM     = "oom"     // out of memory under the filter's memory cap
	ErrKindExit    = "exit"    // proc_exit
	ErrKindInvalid = "invalid" // malformed or invalid result, verdict or change; bad pointers
	ErrKindOther   = "other"   // no instance available, event too large, canceled
	ErrKindLimit   = "limit"   // changes over the relay's limits: message, header or line size, recipients
	ErrKindPolicy  = "policy"  // changes the relay's policy refuses: a recipient the session could not give
)

var errKinds = [...]string{ErrKindTrap, ErrKindTimeout, ErrKindOOM, ErrKindExit, ErrKindInvalid, ErrKindOther, ErrKindLimit, ErrKindPolicy}

// latencyBuckets are the histogram's upper bounds in seconds: a warm call
// costs microseconds, a body scan milliseconds, a timeout seconds.
var latencyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type stageMetrics struct {
	calls    atomic.Uint64
	verdicts [len(actionNames)]atomic.Uint64
	errors   [len(errKinds)]atomic.Uint64 // by errKinds index
	buckets  [17]atomic.Uint64
	count    atomic.Uint64
	sumNanos atomic.Uint64
}

// NewMetrics returns an empty set of counters.
func NewMetrics() *Metrics {
	return &Metrics{stages: map[stageKey]*stageMetrics{}, recycles: map[string]*atomic.Uint64{}}
}

func (m *Metrics) stage(filter, stage string) *stageMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := stageKey{filter, stage}
	sm := m.stages[k]
	if sm == nil {
		sm = &stageMetrics{}
		m.stages[k] = sm
	}
	return sm
}

func (m *Metrics) recycled(filter string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	c := m.recycles[filter]
	if c == nil {
		c = &atomic.Uint64{}
		m.recycles[filter] = c
	}
	m.mu.Unlock()
	c.Add(1)
}

// attach makes h the host whose instance pools the gauges report (the
// newest one after a reload).
func (m *Metrics) attach(h *Host) {
	if m != nil {
		m.host.Store(h)
	}
}

// observe runs one filter for one stage like handle, and records the call:
// its latency, and either the verdict or the kind of failure. Every
// verdict other than continue is logged, with the filter, stage and reply.
func (f *filter) observe(ctx context.Context, stage string, event *chainEvent, t *Txn, msg *Message, parts []part, prior *Changes) (Verdict, *Changes) {
	start := time.Now()
	v, ch := f.handle(ctx, stage, event, t, msg, parts, prior)
	d := time.Since(start)
	m := f.host.opts.Metrics
	if m != nil {
		sm := m.stage(f.name, stage)
		sm.calls.Add(1)
		sm.count.Add(1)
		sm.sumNanos.Add(uint64(d))
		if i, ok := slices.BinarySearch(latencyBuckets, d.Seconds()); ok || i < len(latencyBuckets) {
			sm.buckets[i].Add(1)
		}
		if v.Reason != "" {
			m.failure(f.name, stage, v.Reason)
		} else if v.Action >= 0 && int(v.Action) < len(actionNames) {
			sm.verdicts[v.Action].Add(1)
		}
	}
	if v.Action != Continue && v.Reason == "" {
		f.log.Info("filter verdict", "stage", stage, "action", v.Action.String(), "code", v.Code,
			"enhanced", v.Enhanced, "text", v.Text, "duration", d)
	}
	return v, ch
}

// failure counts a failure of filter at stage by its kind.
func (m *Metrics) failure(filter, stage, reason string) {
	kind := failureKind(reason)
	m.stage(filter, stage).errors[slices.Index(errKinds[:], kind)].Add(1)
	if m.onFailure != nil {
		m.onFailure(filter, stage, kind, reason)
	}
}

// failureKind sorts a failure by the reason the host gave it (filter.go's
// describe and verdict.go's decodeResult): the two produce a closed set of
// prefixes, and TestMetricsHostile checks each kind against a real plugin.
func failureKind(reason string) string {
	switch {
	case strings.HasPrefix(reason, "timeout:"):
		return ErrKindTimeout
	case strings.HasPrefix(reason, "out of memory"):
		return ErrKindOOM
	case strings.HasPrefix(reason, "trap:"):
		return ErrKindTrap
	case strings.HasPrefix(reason, "plugin exited"):
		return ErrKindExit
	case strings.HasPrefix(reason, "no instance available"), strings.HasPrefix(reason, "canceled by the caller"),
		strings.HasPrefix(reason, "event of"), strings.HasPrefix(reason, "instantiate:"), strings.HasPrefix(reason, abi.ExportInitialize),
		strings.HasPrefix(reason, "start function"), strings.HasPrefix(reason, "applying its changes:"):
		return ErrKindOther
	case strings.HasPrefix(reason, reasonLimit):
		return ErrKindLimit
	case strings.HasPrefix(reason, reasonPolicy):
		return ErrKindPolicy
	}
	// "invalid output: ...", "malformed result: ...", "invalid changes: ...",
	// "unknown action ...", bad codes and texts: the guest answered wrongly.
	return ErrKindInvalid
}

// WriteText writes every metric in the Prometheus text format.
func (m *Metrics) WriteText(w io.Writer) error {
	m.mu.Lock()
	keys := make([]stageKey, 0, len(m.stages))
	for k := range m.stages {
		keys = append(keys, k)
	}
	rec := make(map[string]uint64, len(m.recycles))
	for n, c := range m.recycles {
		rec[n] = c.Load()
	}
	m.mu.Unlock()
	slices.SortFunc(keys, func(a, b stageKey) int {
		if c := strings.Compare(a.filter, b.filter); c != 0 {
			return c
		}
		return strings.Compare(a.stage, b.stage)
	})
	b := &strings.Builder{}
	lbl := func(k stageKey) string { return `filter="` + esc(k.filter) + `",stage="` + esc(k.stage) + `"` }

	head(b, "sluice_filter_calls_total", "counter", "Events a filter handled, per stage.")
	for _, k := range keys {
		fmt.Fprintf(b, "sluice_filter_calls_total{%s} %d\n", lbl(k), m.stages[k].calls.Load())
	}
	head(b, "sluice_filter_verdicts_total", "counter", "Verdicts a filter answered, per stage and action (failures are in sluice_filter_errors_total).")
	for _, k := range keys {
		for a, name := range actionNames {
			fmt.Fprintf(b, "sluice_filter_verdicts_total{%s,action=%q} %d\n", lbl(k), name, m.stages[k].verdicts[a].Load())
		}
	}
	head(b, "sluice_filter_errors_total", "counter", "Failed calls, per stage and kind (trap, timeout, oom, exit, invalid, other, limit, policy); on_error applied.")
	for _, k := range keys {
		for i, kind := range errKinds {
			fmt.Fprintf(b, "sluice_filter_errors_total{%s,kind=%q} %d\n", lbl(k), kind, m.stages[k].errors[i].Load())
		}
	}
	head(b, "sluice_filter_duration_seconds", "histogram", "Time a filter took per event, host encoding and validation included.")
	for _, k := range keys {
		sm := m.stages[k]
		var cum uint64
		for i, le := range latencyBuckets {
			cum += sm.buckets[i].Load()
			fmt.Fprintf(b, "sluice_filter_duration_seconds_bucket{%s,le=%q} %d\n", lbl(k), strconv.FormatFloat(le, 'g', -1, 64), cum)
		}
		n := sm.count.Load()
		fmt.Fprintf(b, "sluice_filter_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", lbl(k), n)
		fmt.Fprintf(b, "sluice_filter_duration_seconds_sum{%s} %s\n", lbl(k), strconv.FormatFloat(float64(sm.sumNanos.Load())/1e9, 'g', -1, 64))
		fmt.Fprintf(b, "sluice_filter_duration_seconds_count{%s} %d\n", lbl(k), n)
	}
	if h := m.host.Load(); h != nil {
		head(b, "sluice_filter_instances", "gauge", "Live instances of a filter (busy and idle).")
		for _, f := range h.order {
			fmt.Fprintf(b, "sluice_filter_instances{filter=\"%s\"} %d\n", esc(f.name), len(f.live))
		}
		head(b, "sluice_filter_instances_idle", "gauge", "Warm instances of a filter waiting for an event.")
		for _, f := range h.order {
			fmt.Fprintf(b, "sluice_filter_instances_idle{filter=\"%s\"} %d\n", esc(f.name), len(f.idle))
		}
		head(b, "sluice_filter_instances_max", "gauge", "Cap on a filter's live instances.")
		for _, f := range h.order {
			fmt.Fprintf(b, "sluice_filter_instances_max{filter=\"%s\"} %d\n", esc(f.name), cap(f.live))
		}
	}
	names := make([]string, 0, len(rec))
	for n := range rec {
		names = append(names, n)
	}
	slices.Sort(names)
	head(b, "sluice_filter_instance_recycles_total", "counter", "Instances destroyed after a failure and replaced by fresh ones.")
	for _, n := range names {
		fmt.Fprintf(b, "sluice_filter_instance_recycles_total{filter=\"%s\"} %d\n", esc(n), rec[n])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func head(b *strings.Builder, name, typ, help string) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// esc escapes a label value: backslash, double quote and newline.
func esc(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// ServeHTTP serves the metrics at any path, for a /metrics endpoint.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.WriteText(w)
}
