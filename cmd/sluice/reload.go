package main

import (
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/relay"
)

// reload answers SIGHUP: it reads the configuration file the relay runs
// again and, when it is valid, has the relay swap it in (relay.Reload says
// what changes and what needs a restart). When anything fails, the reason
// is logged and the running configuration stays.
func reload(r *relay.Relay, log hclog.Logger) {
	running := r.Config()
	path := running.Source
	if path == config.DefaultSource {
		path = ""
	}
	// Loading the filters can take seconds (compiling a changed module), so
	// the start is logged; the host logs each filter it loads.
	log.Info("reload started", "config", running.Source)
	var diag strings.Builder
	cfg, ok := loadConfig(path, &diag)
	if !ok {
		log.Error("reload refused: the configuration has errors; the running configuration stays",
			"config", running.Source, "reason", strings.TrimSpace(diag.String()))
		return
	}
	r.Reload(cfg) // logs the outcome
}
