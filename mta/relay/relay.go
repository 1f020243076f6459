// Package relay assembles one sluice relay from its configuration: the
// metrics listener, the server certificate, the routing table, the queue
// (with its delivery status notifications and the filters' delivered
// stage), the control socket, the links store, the filters and the SMTP
// front end. "sluice serve", its SIGHUP reload and the in-process test kit
// (internal/relaytest) all build the relay here, so tests run the wiring
// production runs; what differs between them is in Options, never a flag.
package relay

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/control"
	"github.com/sluice-mail/sluice/mta/deliver"
	"github.com/sluice-mail/sluice/mta/dsn"
	"github.com/sluice-mail/sluice/mta/links"
	"github.com/sluice-mail/sluice/mta/metrics"
	"github.com/sluice-mail/sluice/mta/queue"
	"github.com/sluice-mail/sluice/mta/routing"
	"github.com/sluice-mail/sluice/mta/smtpd"
	"github.com/sluice-mail/sluice/mta/tlsutil"
	"github.com/sluice-mail/sluice/plugin"
)

// Options are what the process around the relay decides.
type Options struct {
	// Logger is the parent logger; each part logs under its own name.
	// nil: nothing is logged.
	Logger hclog.Logger
	// CompileCacheDir is where the filters' compiled code is cached;
	// empty: data_dir/wasm-cache. Tests share one directory across relays
	// so each module compiles once.
	CompileCacheDir string
	// ControlSocket is the path of the queue's control socket; empty:
	// data_dir/control.sock, where "sluice queue" looks for it. (A unix
	// socket path is limited to about 100 bytes; a deep data_dir may need
	// another place.)
	ControlSocket string
}

// DefaultControlSocket is where the control socket of a relay with this
// data directory listens unless Options.ControlSocket says otherwise.
func DefaultControlSocket(dataDir string) string { return filepath.Join(dataDir, "control.sock") }

// Relay is one assembled relay. New binds every socket; Start begins
// serving; Reload swaps in a new configuration; Shutdown stops it.
type Relay struct {
	log         hclog.Logger
	deliverOpts deliver.Options
	hostOpts    plugin.HostOptions

	metrics     *metrics.Relay // nil without metrics_listen: records nothing
	metricsSrv  *http.Server
	metricsAddr net.Addr
	router      *routing.Switch
	queue       *queue.Queue
	control     *control.Server
	links       *links.Server
	server      *smtpd.Server

	// mu serializes Reload and guards cfg and host, the running
	// configuration and filters (host is nil without filters).
	mu   sync.Mutex
	cfg  *config.Config
	host *plugin.Host

	shutdown sync.Once
}

// New wires the relay in this order: the data directory, the metrics
// listener (metrics_listen), the server certificate (mta/tlsutil), one
// transport per domain block (routing.New) behind a routing.Switch that
// reloads replace, the filters (plugin.NewHost, compiled once here) and
// their chains (smtpd.NewFilters), the queue (queue.Open recovers what a
// previous run left in data_dir/queue; mta/dsn reports, the chains'
// delivered stage runs when a message is finished), the control socket
// (mta/control), the links store and its download server, then the front
// end (smtpd.New) and its listeners. Nothing is served until Start. On
// error, whatever was opened is closed again.
func New(cfg *config.Config, opts Options) (_ *Relay, err error) {
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	r := &Relay{log: log, cfg: cfg}
	defer func() {
		if err != nil {
			r.close(context.Background())
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	// One set of filter metrics for the process: it outlives plugin reloads.
	filterMetrics := plugin.NewMetrics()
	if cfg.MetricsListen != "" {
		r.metrics = metrics.New(metrics.Options{Config: cfg, Filters: filterMetrics, Logger: log.Named("metrics")})
		if err := r.serveMetrics(cfg.MetricsListen, log.Named("metrics")); err != nil {
			return nil, err
		}
	}
	tlsConfig, err := tlsutil.ServerConfig(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.DataDir, cfg.Hostname)
	if err != nil {
		return nil, err
	}
	// As many idle sessions per next hop as deliveries may run at once to
	// one destination: with fewer, a busy destination closes and redials
	// sessions after almost every message.
	r.deliverOpts = deliver.Options{Hostname: cfg.Hostname, DataDir: cfg.DataDir, Logger: log.Named("deliver"),
		MaxIdle: cfg.Queue.ConcurrencyPerDestination}
	routes, err := routing.New(cfg, r.deliverOpts)
	if err != nil {
		return nil, err
	}
	// The queue routes through a switch so that a reload can replace the table.
	r.router = routing.NewSwitch(routes)
	// The links store comes before the filters: those granted "blob" write to it.
	var blobs plugin.BlobStore
	if lc := cfg.Links; lc != nil {
		store, err := r.startLinks(lc, log.Named("links"))
		if err != nil {
			return nil, err
		}
		blobs = store
	}
	// Filters compile once here (with an on-disk cache); a broken plugin
	// stops the start with its name in the error.
	r.hostOpts = plugin.HostOptions{DataDir: cfg.DataDir, Logger: log.Named("filter"), Metrics: filterMetrics,
		CacheDir: opts.CompileCacheDir, Blobs: blobs,
		BlobUsage: plugin.NewBlobUsage()} // blob_quota counts across reloads
	if len(cfg.Filters) > 0 {
		if r.host, err = plugin.NewHost(context.Background(), FilterSpecs(cfg.Filters), r.hostOpts); err != nil {
			return nil, err
		}
	}
	// The chains exist before the queue and the front end, which both run them.
	filters, err := smtpd.NewFilters(cfg, r.host)
	if err != nil {
		return nil, err
	}
	r.queue, err = queue.Open(queue.Options{
		Dir:                       filepath.Join(cfg.DataDir, "queue"),
		Router:                    r.router,
		Logger:                    log.Named("queue"),
		ConcurrencyPerDestination: cfg.Queue.ConcurrencyPerDestination,
		MaxDeliveries:             cfg.Queue.MaxDeliveries,
		RetryMin:                  cfg.Queue.RetryMin,
		RetryMax:                  cfg.Queue.RetryMax,
		GiveUpAfter:               cfg.Queue.GiveUpAfter,
		DelayWarning:              cfg.Queue.DelayWarning,
		Observe:                   r.metrics.QueueObserver(r.router),
		// The delivered filter stage (logging) runs once a message is finished.
		Finished: func(env *queue.Envelope, _ string) { filters.Delivered(env) },
		// Bounces, delay warnings (after delay_warning) and success reports.
		Notifier: &dsn.Sender{Hostname: cfg.Hostname, Logger: log.Named("dsn")},
	})
	if err != nil {
		return nil, err
	}
	r.metrics.WatchQueue(r.queue)
	sock := opts.ControlSocket
	if sock == "" {
		sock = DefaultControlSocket(cfg.DataDir)
	}
	if r.control, err = control.Listen(sock, r.queue, log.Named("control")); err != nil {
		return nil, err
	}
	r.server, err = smtpd.New(smtpd.Options{Config: cfg, Queue: r.queue, Routes: routes, TLS: tlsConfig,
		Logger: log.Named("smtpd"), Filters: filters, Metrics: r.metrics.SMTP()})
	if err != nil {
		return nil, err
	}
	if err := r.server.Listen(); err != nil {
		return nil, err
	}
	return r, nil
}

// Start begins delivering queued mail and serving the listeners and the
// control socket. It returns at once.
func (r *Relay) Start() {
	go r.control.Serve()
	r.queue.Start()
	r.server.Serve()
}

// Shutdown stops the front end first (dialogs in progress may finish
// until ctx is done), then the control socket and the queue (attempts in
// flight are cancelled; queued mail stays on disk), then the filters, the
// links server, the transports' idle sessions and the metrics listener.
func (r *Relay) Shutdown(ctx context.Context) { r.close(ctx) }

// close stops whatever New got to open.
func (r *Relay) close(ctx context.Context) {
	r.shutdown.Do(func() {
		if r.server != nil {
			r.server.Shutdown(ctx)
		}
		if r.control != nil {
			r.control.Close() // removes the socket
		}
		if r.queue != nil {
			r.queue.Close()
		}
		r.mu.Lock()
		if r.host != nil {
			r.host.Close(context.Background()) // the filters current at exit
		}
		r.mu.Unlock()
		if r.links != nil {
			r.links.Close()
		}
		if r.router != nil {
			r.router.Current().Close()
		}
		if r.metricsSrv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			r.metricsSrv.Shutdown(sctx)
		}
	})
}

// Reload swaps in cfg, once it is valid and every filter compiles with the
// start-up checks: domains, routes, users, trusted networks, limits and
// filters change without dropping connections or queued mail.
// Transactions in flight finish on the filters they started with; queued
// mail keeps its transport until it is next scheduled. On error the reason
// is logged and returned, and the running configuration stays.
//
// Settings bound at start (listeners, data directory, TLS certificate,
// hostname, the queue block except its retry schedule and admission
// limits, links, metrics and pprof listeners) keep their running values; a
// reload that changes them says so in the log.
func (r *Relay) Reload(cfg *config.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := r.log.Named("reload")
	start := time.Now()
	if fixed := RestartOnly(r.cfg, cfg); len(fixed) > 0 {
		log.Warn("reload keeps the running value of settings that need a restart", "settings", strings.Join(fixed, ", "))
	}
	routes, err := routing.New(cfg, r.deliverOpts)
	if err != nil {
		log.Error("reload refused: a domain's delivery is invalid; the running configuration stays", "reason", err)
		return err
	}
	ctx := context.Background()
	var h *plugin.Host
	if len(cfg.Filters) > 0 {
		h, err = plugin.NewHost(ctx, FilterSpecs(cfg.Filters), r.hostOpts)
		if err != nil {
			routes.Close()
			log.Error("reload refused: a filter failed to load; the running configuration stays", "reason", err)
			return err
		}
	}
	oldUnused, err := r.server.Reload(cfg, routes, h)
	if err != nil {
		if h != nil {
			h.Close(ctx)
		}
		routes.Close()
		log.Error("reload refused; the running configuration stays", "reason", err)
		return err
	}
	// Mail scheduled before the swap keeps the old transports, whose idle
	// sessions close on their own idle timeout: the old table is not closed.
	r.router.Set(routes)
	old := r.host
	r.cfg, r.host = cfg, h
	log.Info("configuration reloaded", "config", cfg.Source, "domains", len(cfg.Domains), "filters", len(cfg.Filters),
		"took", time.Since(start).Round(time.Millisecond))
	go func() {
		<-oldUnused
		if old != nil {
			old.Close(ctx)
		}
		log.Debug("previous filters closed")
	}()
	return nil
}

// Config is the running configuration (the last one Reload accepted).
func (r *Relay) Config() *config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

// Queue is the relay's queue.
func (r *Relay) Queue() *queue.Queue { return r.queue }

// Server is the SMTP front end.
func (r *Relay) Server() *smtpd.Server { return r.server }

// Addr is the bound address of the named listener (nil if there is none).
func (r *Relay) Addr(listener string) net.Addr { return r.server.Addr(listener) }

// MetricsAddr is the bound address of the metrics listener (nil without metrics_listen).
func (r *Relay) MetricsAddr() net.Addr { return r.metricsAddr }

// MetricsHandler serves the relay's and the filters' metrics in the
// Prometheus text format (nil without metrics_listen).
func (r *Relay) MetricsHandler() http.Handler {
	if r.metrics == nil {
		return nil
	}
	return r.metrics.Handler()
}

// LinksAddr is the bound address of the links download server (nil without a links block).
func (r *Relay) LinksAddr() net.Addr {
	if r.links == nil {
		return nil
	}
	return r.links.Addr()
}

// serveMetrics serves the metrics at GET /metrics on addr (metrics_listen).
func (r *Relay) serveMetrics(addr string, log hclog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", r.metrics.Handler())
	r.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	r.metricsAddr = ln.Addr()
	go func() {
		if err := r.metricsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "error", err)
		}
	}()
	log.Info("metrics listening", "address", ln.Addr().String())
	return nil
}

// startLinks opens the links store and starts its download server.
func (r *Relay) startLinks(lc *config.Links, log hclog.Logger) (*links.Store, error) {
	store, err := links.Open(links.OptionsFor(lc))
	if err != nil {
		return nil, err
	}
	srv, err := links.Listen(store, lc.Listen, log)
	if err != nil {
		return nil, err
	}
	r.links = srv
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
	return store, nil
}
