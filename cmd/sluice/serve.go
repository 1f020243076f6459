package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/relay"
)

func serveCommand(args []string, stderr io.Writer) int {
	fs := newFlagSet("serve")
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (default: the embedded configuration)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return 1
	}
	log := newLogger(cfg, stderr)
	if err := serve(cfg, log); err != nil {
		log.Error("sluice stopped", "error", err)
		return 1
	}
	return 0
}

func newLogger(cfg *config.Config, w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "sluice",
		Level:      hclog.LevelFromString(cfg.Log.Level),
		JSONFormat: cfg.Log.Format == "json",
		Output:     w,
	})
}

// serve runs the relay that mta/relay assembles (relay.New lists the
// order), with the pprof listener beside it, a process-wide debugging aid:
// the listeners are bound first, then the queue workers and the SMTP
// servers start. It then waits: SIGHUP reloads (reload.go), SIGTERM or
// SIGINT shuts down (front end first, then the queue).
func serve(cfg *config.Config, log hclog.Logger) error {
	if cfg.PprofListen != "" {
		stop, err := servePprof(cfg.PprofListen, log.Named("pprof"))
		if err != nil {
			return err
		}
		defer stop()
	}
	r, err := relay.New(cfg, relay.Options{Logger: log})
	if err != nil {
		return err
	}
	log.Info("sluice starting", "version", versionString(), "config", cfg.Source, "hostname", cfg.Hostname,
		"data_dir", cfg.DataDir, "queued", r.Queue().Len())
	r.Start()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	s := <-sig
	for ; s == syscall.SIGHUP; s = <-sig {
		reload(r, log.Named("reload"))
	}
	log.Info("shutting down", "signal", s.String(), "grace", cfg.Limits.ShutdownGrace.String())
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Limits.ShutdownGrace)
	defer cancel()
	r.Shutdown(ctx)
	log.Info("stopped", "queued", r.Queue().Len())
	return nil
}
