package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/control"
	"github.com/sluice-mail/sluice/mta/deliver"
	"github.com/sluice-mail/sluice/mta/dsn"
	"github.com/sluice-mail/sluice/mta/links"
	relaymetrics "github.com/sluice-mail/sluice/mta/metrics"
	"github.com/sluice-mail/sluice/mta/queue"
	"github.com/sluice-mail/sluice/mta/routing"
	"github.com/sluice-mail/sluice/mta/smtpd"
	"github.com/sluice-mail/sluice/mta/tlsutil"
	"github.com/sluice-mail/sluice/plugin"
)

func serveCommand(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
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

// serve wires the parts together explicitly, in this order: the metrics and
// pprof listeners, the server certificate (mta/tlsutil), one transport per
// domain block (routing.New), the queue (queue.Open recovers what a
// previous run left in data_dir/queue), the control socket (mta/control),
// the links store and its download server, the filters (plugin.NewHost),
// then the front end's listeners; only then do the queue workers and the
// SMTP servers start. It then waits: SIGHUP reloads (reload.go), SIGTERM
// or SIGINT shuts down (front end first, then the queue).
func serve(cfg *config.Config, log hclog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	// One set of filter metrics for the process: it outlives plugin reloads.
	metrics := plugin.NewMetrics()
	var relayMetrics *relaymetrics.Relay // nil without metrics_listen: records nothing
	if cfg.MetricsListen != "" {
		relayMetrics = relaymetrics.New(relaymetrics.Options{Config: cfg, Filters: metrics, Logger: log.Named("metrics")})
		stop, err := serveMetrics(cfg.MetricsListen, relayMetrics.Handler(), log.Named("metrics"))
		if err != nil {
			return err
		}
		defer stop()
	}
	if cfg.PprofListen != "" {
		stop, err := servePprof(cfg.PprofListen, log.Named("pprof"))
		if err != nil {
			return err
		}
		defer stop()
	}
	tlsConfig, err := tlsutil.ServerConfig(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.DataDir, cfg.Hostname)
	if err != nil {
		return err
	}
	// As many idle sessions per next hop as deliveries may run at once to
	// one destination: with fewer, a busy destination closes and redials
	// sessions after almost every message.
	deliverOpts := deliver.Options{Hostname: cfg.Hostname, DataDir: cfg.DataDir, Logger: log.Named("deliver"),
		MaxIdle: cfg.Queue.ConcurrencyPerDestination}
	routes, err := routing.New(cfg, deliverOpts)
	if err != nil {
		return err
	}
	// The queue routes through a switch so that a reload can replace the table.
	router := routing.NewSwitch(routes)
	defer func() { router.Current().Close() }()
	var srv *smtpd.Server // set before the queue starts; read by Finished
	q, err := queue.Open(queue.Options{
		Dir:                       filepath.Join(cfg.DataDir, "queue"),
		Router:                    router,
		Logger:                    log.Named("queue"),
		ConcurrencyPerDestination: cfg.Queue.ConcurrencyPerDestination,
		MaxDeliveries:             cfg.Queue.MaxDeliveries,
		RetryMin:                  cfg.Queue.RetryMin,
		RetryMax:                  cfg.Queue.RetryMax,
		GiveUpAfter:               cfg.Queue.GiveUpAfter,
		DelayWarning:              cfg.Queue.DelayWarning,
		Observe:                   relayMetrics.QueueObserver(router),
		// The delivered filter stage (logging) runs once a message is finished.
		Finished: func(env *queue.Envelope, _ string) {
			if srv != nil {
				srv.Delivered(env)
			}
		},
		// Bounces, delay warnings (after delay_warning) and success reports.
		Notifier: &dsn.Sender{Hostname: cfg.Hostname, Logger: log.Named("dsn")},
	})
	if err != nil {
		return err
	}
	relayMetrics.WatchQueue(q)
	ctl, err := control.Listen(controlSocket(cfg.DataDir), q, log.Named("control"))
	if err != nil {
		q.Close()
		return err
	}
	go ctl.Serve()
	defer ctl.Close() // removes the socket
	// The links store and its download server, for filters granted "blob".
	var blobs plugin.BlobStore
	if lc := cfg.Links; lc != nil {
		store, srv, err := startLinks(lc, log.Named("links"))
		if err != nil {
			q.Close()
			return err
		}
		defer srv.Close()
		blobs = store
	}
	// Filters compile once here (with an on-disk cache in the data
	// directory); a broken plugin stops the start with its name in the error.
	hostOpts := plugin.HostOptions{DataDir: cfg.DataDir, Logger: log.Named("filter"), Metrics: metrics, Blobs: blobs}
	var plugins *plugin.Host
	if len(cfg.Filters) > 0 {
		plugins, err = plugin.NewHost(context.Background(), cfg.Filters, hostOpts)
		if err != nil {
			q.Close()
			return err
		}
	}
	srv, err = smtpd.New(smtpd.Options{Config: cfg, Queue: q, Routes: routes, TLS: tlsConfig, Logger: log.Named("smtpd"), Plugins: plugins,
		Metrics: relayMetrics.SMTP()})
	if err != nil {
		q.Close()
		return err
	}
	if err := srv.Listen(); err != nil {
		q.Close()
		return err
	}
	log.Info("sluice starting", "version", versionString(), "config", cfg.Source, "hostname", cfg.Hostname,
		"data_dir", cfg.DataDir, "queued", q.Len())
	q.Start()
	srv.Serve()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	s := <-sig
	rl := &reloader{cfg: cfg, host: plugins, hostOpts: hostOpts, deliver: deliverOpts, routes: router, srv: srv, log: log.Named("reload")}
	for ; s == syscall.SIGHUP; s = <-sig {
		rl.reload()
	}
	// The filters current at exit (a reload may have replaced them).
	if rl.host != nil {
		defer rl.host.Close(context.Background())
	}
	log.Info("shutting down", "signal", s.String(), "grace", cfg.Limits.ShutdownGrace.String())
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Limits.ShutdownGrace)
	defer cancel()
	srv.Shutdown(ctx)
	ctl.Close()
	q.Close()
	log.Info("stopped", "queued", q.Len())
	return nil
}

// startLinks opens the links store and starts its download server.
func startLinks(lc *config.Links, log hclog.Logger) (*links.Store, *links.Server, error) {
	store, err := links.Open(links.OptionsFor(lc))
	if err != nil {
		return nil, nil, err
	}
	srv, err := links.Listen(store, lc.Listen, log)
	if err != nil {
		return nil, nil, err
	}
	go func() {
		if err := srv.Serve(); err != nil {
			log.Error("link server stopped", "error", err)
		}
	}()
	where := lc.Dir
	if s := lc.S3; s != nil {
		where = "s3 " + s.Endpoint + " bucket " + s.Bucket + " prefix " + s.Prefix
	}
	log.Info("link server listening", "address", srv.Addr().String(), "base_url", lc.BaseURL, "store", where)
	return store, srv, nil
}
