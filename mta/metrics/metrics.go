// Package metrics holds the relay's Prometheus metrics (client_golang):
// connections and replies per listener from the front end (mta/smtpd),
// delivery outcomes and latency per domain block from the queue, the
// queue's size and age; and serves them on /metrics together with the
// filters' metrics (plugin.Metrics) and the Go runtime and process
// collectors.
//
// Every label is bounded by the configuration: listener and domain block
// names, stages, statuses, reason classes. A recipient's own domain never
// becomes a label (mail for a catch-all block counts under "*").
package metrics

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/queue"
	"github.com/sluice-mail/sluice/mta/routing"
	"github.com/sluice-mail/sluice/mta/smtpd"
	"github.com/sluice-mail/sluice/plugin"
)

// Options configure the relay's metrics.
type Options struct {
	// Config names the listeners and domain blocks whose series start at
	// zero, so that a rate over a quiet listener is 0 rather than absent.
	Config *config.Config
	// Filters are the filters' metrics, served alongside; nil: none.
	Filters *plugin.Metrics
	// Logger gets the errors of a scrape; nil: discarded.
	Logger hclog.Logger
}

// Relay is the relay's metric registry. Its methods are safe for
// concurrent use. A nil *Relay records nothing, so callers need not check.
type Relay struct {
	reg      *prometheus.Registry
	gatherer prometheus.Gatherer
	log      hclog.Logger

	connOpen    *prometheus.GaugeVec
	connTotal   *prometheus.CounterVec
	connRefused *prometheus.CounterVec
	received    *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	authFailed  *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
	delay       *prometheus.HistogramVec
	attempt     *prometheus.HistogramVec
}

// Buckets of sluice_delivery_delay_seconds: from a local Maildir (well
// under a second) to the queue's default give_up_after (5 days).
var delayBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 30, 60, 300, 900, 1800, 3600,
	4 * 3600, 12 * 3600, 24 * 3600, 2 * 24 * 3600, 5 * 24 * 3600}

// Buckets of sluice_delivery_attempt_duration_seconds: a Maildir write to
// a remote MX that answers slowly (transports time out at minutes).
var attemptBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Delivery statuses, the status label of sluice_deliveries_total.
var statuses = []string{queue.StatusDelivered, queue.StatusBounced, queue.StatusDeferred, queue.StatusExpired}

// New creates the registry with the relay's metrics and the Go runtime
// and process collectors.
func New(opts Options) *Relay {
	m := &Relay{
		reg: prometheus.NewRegistry(),
		log: opts.Logger,
		connOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_connections_open", Help: "Client connections open now, per listener.",
		}, []string{"listener"}),
		connTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connections_total", Help: "Client connections admitted, per listener.",
		}, []string{"listener"}),
		connRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connections_refused_total",
			Help: "Client connections refused with 421 by a connection limit (max_connections, max_connections_per_ip), per listener.",
		}, []string{"listener", "limit"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_messages_received_total",
			Help: "Messages answered 250 at DATA (queued, quarantined or discarded by a filter), per listener.",
		}, []string{"listener"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_messages_rejected_total",
			Help: "4xx and 5xx replies sluice gave, per listener, stage (connect, helo, mail, rcpt, data), class (temporary, permanent) and reason (the RFC 3463 subject of the enhanced code).",
		}, []string{"listener", "stage", "class", "reason"}),
		authFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_auth_failures_total",
			Help: "Failed or refused AUTH commands, per listener and outcome: rejected (535, wrong credentials), closed (421 after a failure that reached max_auth_failures or the address's limit), blocked (421 at AUTH, the address over max_auth_failures_per_ip_per_hour).",
		}, []string{"listener", "outcome"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_deliveries_total",
			Help: "Recipient delivery outcomes (delivered, bounced, deferred, expired), per domain block; a deferral counts once per attempt.",
		}, []string{"domain", "status"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_delivery_delay_seconds", Help: "Time from acceptance to delivery of a recipient, retries included, per domain block.",
			Buckets: delayBuckets,
		}, []string{"domain"}),
		attempt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_delivery_attempt_duration_seconds", Help: "Time one delivery attempt took in its transport, per transport kind (maildir, smtp, lmtp, mx).",
			Buckets: attemptBuckets,
		}, []string{"transport"}),
	}
	m.reg.MustRegister(m.connOpen, m.connTotal, m.connRefused, m.received, m.rejected, m.authFailed, m.deliveries, m.delay, m.attempt,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if c := opts.Config; c != nil {
		for _, l := range c.Listeners {
			m.connOpen.WithLabelValues(l.Name)
			m.connTotal.WithLabelValues(l.Name)
			m.received.WithLabelValues(l.Name)
		}
		for _, d := range c.Domains {
			for _, s := range statuses {
				m.deliveries.WithLabelValues(d.Name, s)
			}
		}
	}
	m.gatherer = m.reg
	if opts.Filters != nil {
		m.gatherer = prometheus.Gatherers{m.reg, filterGatherer(opts.Filters)}
	}
	return m
}

// Handler serves every metric in the format the scraper asks for (the
// Prometheus text format by default).
func (m *Relay) Handler() http.Handler {
	opts := promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}
	if m.log != nil {
		opts.ErrorLog = m.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Error})
	}
	return promhttp.HandlerFor(m.gatherer, opts)
}

// Gatherer returns everything Handler serves.
func (m *Relay) Gatherer() prometheus.Gatherer { return m.gatherer }

// filterGatherer reads the filters' metrics through their own text
// writer: plugin.Metrics keeps the plugin host free of client_golang, and
// a scrape costs one parse.
func filterGatherer(pm *plugin.Metrics) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		var b bytes.Buffer
		if err := pm.WriteText(&b); err != nil {
			return nil, err
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(&b)
		if err != nil {
			return nil, err
		}
		out := make([]*dto.MetricFamily, 0, len(fams))
		for _, f := range fams {
			out = append(out, f)
		}
		return out, nil
	})
}

// WatchQueue adds the queue's gauges: its size and the age of its oldest
// message, read at each scrape.
func (m *Relay) WatchQueue(q *queue.Queue) {
	if m == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_queue_messages", Help: "Messages in the queue (held ones included).",
		}, func() float64 { return float64(q.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_queue_oldest_message_age_seconds", Help: "Age of the oldest message in the queue; 0 when it is empty.",
		}, func() float64 {
			if o := q.Oldest(); !o.IsZero() {
				return time.Since(o).Seconds()
			}
			return 0
		}),
	)
}

// Tables gives the routing table in use, which a reload may replace;
// *routing.Switch is one.
type Tables interface {
	Current() *routing.Table
}

// QueueObserver returns the function for queue.Options.Observe: it counts
// each recipient's outcome under its domain block (looked up in the
// current table), the delay of each delivered recipient and the duration
// of each attempt. It returns nil on a nil *Relay.
func (m *Relay) QueueObserver(routes Tables) func(queue.Attempt) {
	if m == nil {
		return nil
	}
	return func(a queue.Attempt) {
		for _, o := range a.Outcomes {
			block := blockName(routes.Current(), o)
			m.deliveries.WithLabelValues(block, o.Status).Inc()
			if o.Status == queue.StatusDelivered {
				m.delay.WithLabelValues(block).Observe(time.Since(a.Created).Seconds())
			}
		}
		if a.Dest != "" {
			m.attempt.WithLabelValues(transportKind(a.Dest)).Observe(a.Duration.Seconds())
		}
	}
}

// blockName is the domain block a recipient was delivered through: the
// block a filter rerouted it to, else its domain's block or the catch-all
// "*"; "none" when no configured block covers it (a route failure). The
// result is always a configured block's name, whatever a filter wrote.
func blockName(t *routing.Table, o queue.Outcome) string {
	if t == nil {
		return "none"
	}
	var d *config.Domain
	switch o.Route {
	case "":
		d, _ = t.Lookup(routing.Domain(o.Addr))
	case "*":
		d, _ = t.Lookup("") // no served domain is empty: the catch-all
	default:
		if rd, local := t.Lookup(o.Route); local {
			d = rd // a configured block, not a name a filter made up
		}
	}
	if d == nil {
		return "none"
	}
	return d.Name
}

// transportKind is the kind part of a destination key (deliver.DestinationKey).
func transportKind(dest string) string {
	kind, _, _ := strings.Cut(dest, ":")
	switch kind {
	case "maildir", "smtp", "lmtp", "mx":
		return kind
	}
	return "other"
}

// SMTP returns the sink for smtpd.Options.Metrics; nil on a nil *Relay
// (an interface holding a nil pointer would not be nil).
func (m *Relay) SMTP() smtpd.Metrics {
	if m == nil {
		return nil
	}
	return smtpSink{m}
}

// smtpSink implements smtpd.Metrics.
type smtpSink struct{ m *Relay }

func (s smtpSink) ConnectionOpened(listener string) {
	s.m.connOpen.WithLabelValues(listener).Inc()
	s.m.connTotal.WithLabelValues(listener).Inc()
}

func (s smtpSink) ConnectionClosed(listener string) { s.m.connOpen.WithLabelValues(listener).Dec() }

func (s smtpSink) ConnectionRefused(listener, limit string) {
	s.m.connRefused.WithLabelValues(listener, limit).Inc()
}

func (s smtpSink) Received(listener string) { s.m.received.WithLabelValues(listener).Inc() }

func (s smtpSink) AuthFailure(listener, outcome string) {
	s.m.authFailed.WithLabelValues(listener, outcome).Inc()
}

func (s smtpSink) Rejected(listener, stage string, code int, enhanced [3]int) {
	s.m.rejected.WithLabelValues(listener, stage, replyClass(code), reasonClass(enhanced)).Inc()
}

// replyClass is "temporary" for 4xx, "permanent" for 5xx.
func replyClass(code int) string {
	if code/100 == 4 {
		return "temporary"
	}
	return "permanent"
}

// reasonClass names the subject of an enhanced status code (RFC 3463
// section 3): X.7.Y is policy (relay denied, authentication, a filter's
// reject), X.6.Y content (bare LF), X.3.Y the mail system (size, full
// queue), and so on. A code without one is "other".
func reasonClass(enhanced [3]int) string {
	switch enhanced[1] {
	case 1:
		return "address"
	case 2:
		return "mailbox"
	case 3:
		return "system"
	case 4:
		return "routing"
	case 5:
		return "protocol"
	case 6:
		return "content"
	case 7:
		return "policy"
	}
	return "other"
}
