package main

import (
	"context"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/smtpd"
	"github.com/sluice-mail/sluice/plugin"
)

// reloadPlugins answers SIGHUP: it reads the configuration file again and
// compiles every filter it defines (the .wasm files as they are now, their
// config blocks and limits), with the same checks as at start (ABI version,
// exports and imports, stages). When all pass, new transactions use the new
// filters while transactions in flight finish on the old ones, and the old
// host is closed once nothing uses it. When anything fails, the reason is
// logged and the running filters stay. It returns the new host, or nil.
//
// Only filter definitions are reloaded: which domains run which filters,
// listeners and every other setting keep their values from the start.
func reloadPlugins(cur *config.Config, opts plugin.HostOptions, srv *smtpd.Server, old *plugin.Host, log hclog.Logger) *plugin.Host {
	path := cur.Source
	if path == config.Default().Source {
		path = ""
	}
	var diag strings.Builder
	cfg, ok := loadConfig(path, &diag)
	if !ok {
		log.Error("reload refused: the configuration has errors; the running filters stay", "config", cur.Source,
			"reason", strings.TrimSpace(diag.String()))
		return nil
	}
	ctx := context.Background()
	h, err := plugin.NewHost(ctx, cfg.Filters, opts)
	if err != nil {
		log.Error("reload refused: a filter failed to load; the running filters stay", "reason", err)
		return nil
	}
	oldUnused, err := srv.SetPlugins(h)
	if err != nil {
		h.Close(ctx)
		log.Error("reload refused; the running filters stay", "reason", err)
		return nil
	}
	log.Info("filters reloaded", "filters", len(cfg.Filters))
	go func() {
		<-oldUnused
		if old != nil {
			old.Close(ctx)
		}
		log.Debug("previous filters closed")
	}()
	return h
}
