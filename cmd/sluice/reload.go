package main

import (
	"context"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/deliver"
	"github.com/sluice-mail/sluice/mta/routing"
	"github.com/sluice-mail/sluice/mta/smtpd"
	"github.com/sluice-mail/sluice/plugin"
)

// reloader answers SIGHUP: it reads the configuration file again and, when
// it is valid and every filter compiles with the start-up checks, swaps in
// the new domains, routes, users, trusted networks, limits and filters
// without dropping connections or queued mail. Transactions in flight
// finish on the filters they started with; queued mail keeps its transport
// until it is next scheduled. When anything fails, the reason is logged and
// the running configuration stays.
//
// Settings bound at start (listeners, data directory, TLS certificate,
// hostname, the queue block except its retry schedule and admission
// limits, links, metrics and pprof listeners) keep their running values; a
// reload that changes them says so in the log.
type reloader struct {
	cfg      *config.Config // the running configuration
	host     *plugin.Host   // the running filters (nil without filters)
	hostOpts plugin.HostOptions
	deliver  deliver.Options
	routes   *routing.Switch
	srv      *smtpd.Server
	log      hclog.Logger
}

func (r *reloader) reload() {
	path := r.cfg.Source
	if path == config.DefaultSource {
		path = ""
	}
	// Loading the filters can take seconds (compiling a changed module), so
	// the start is logged; the host logs each filter it loads.
	start := time.Now()
	r.log.Info("reload started", "config", r.cfg.Source)
	var diag strings.Builder
	cfg, ok := loadConfig(path, &diag)
	if !ok {
		r.log.Error("reload refused: the configuration has errors; the running configuration stays",
			"config", r.cfg.Source, "reason", strings.TrimSpace(diag.String()))
		return
	}
	if fixed := restartOnly(r.cfg, cfg); len(fixed) > 0 {
		r.log.Warn("reload keeps the running value of settings that need a restart", "settings", strings.Join(fixed, ", "))
	}
	routes, err := routing.New(cfg, r.deliver)
	if err != nil {
		r.log.Error("reload refused: a domain's delivery is invalid; the running configuration stays", "reason", err)
		return
	}
	ctx := context.Background()
	var h *plugin.Host
	if len(cfg.Filters) > 0 {
		h, err = plugin.NewHost(ctx, cfg.Filters, r.hostOpts)
		if err != nil {
			routes.Close()
			r.log.Error("reload refused: a filter failed to load; the running configuration stays", "reason", err)
			return
		}
	}
	oldUnused, err := r.srv.Reload(cfg, routes, h)
	if err != nil {
		if h != nil {
			h.Close(ctx)
		}
		routes.Close()
		r.log.Error("reload refused; the running configuration stays", "reason", err)
		return
	}
	// Mail scheduled before the swap keeps the old transports, whose idle
	// sessions close on their own idle timeout: the old table is not closed.
	r.routes.Set(routes)
	old := r.host
	r.cfg, r.host = cfg, h
	r.log.Info("configuration reloaded", "config", cfg.Source, "domains", len(cfg.Domains), "filters", len(cfg.Filters),
		"took", time.Since(start).Round(time.Millisecond))
	go func() {
		<-oldUnused
		if old != nil {
			old.Close(ctx)
		}
		r.log.Debug("previous filters closed")
	}()
}

// restartOnly lists the settings that differ between a and b but are only
// read at start.
func restartOnly(a, b *config.Config) []string {
	var out []string
	check := func(name string, x, y any) {
		if !reflect.DeepEqual(x, y) {
			out = append(out, name)
		}
	}
	check("listener", a.Listeners, b.Listeners)
	check("data_dir", a.DataDir, b.DataDir)
	check("tls", a.TLS, b.TLS)
	check("hostname", a.Hostname, b.Hostname)
	check("log", a.Log, b.Log)
	check("queue", queueAtStart(a.Queue), queueAtStart(b.Queue))
	check("links", a.Links, b.Links)
	check("metrics_listen", a.MetricsListen, b.MetricsListen)
	check("pprof_listen", a.PprofListen, b.PprofListen)
	return out
}

// queueAtStart is the part of the queue block read when the queue opens
// (max_messages and min_free_disk are read at every MAIL; the retry
// schedule at every attempt, through the routing table).
func queueAtStart(q config.Queue) config.Queue {
	q.MaxMessages, q.MinFreeDisk = 0, 0
	q.RetryMin, q.RetryMax, q.GiveUpAfter = 0, 0, 0
	return q
}
