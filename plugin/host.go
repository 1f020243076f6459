// Package plugin runs sluice's filter plugins: sandboxed WebAssembly
// modules speaking ABI v1 (sdk/ABI.md), executed with wazero.
//
// The relay uses a narrow API:
//
//	h, err := plugin.NewHost(ctx, specs, plugin.HostOptions{DataDir: dataDir, Logger: log})
//	defer h.Close(ctx)
//	chain, err := h.Chain(domain.Filters)      // once per domain
//	v := chain.Mail(ctx, txn)                   // at each SMTP stage
//	v, ch := chain.Data(ctx, txn, msg)          // with the spooled message
//	plugin.Apply(ch, spool, w)                  // rewrite when ch.MessageChanged()
//
// Every stage method returns one combined Verdict and never fails: a plugin
// that traps, exits, times out, runs out of memory or answers garbage is
// handled by its on_error policy (tempfail 451 4.3.0 by default, continue,
// or reject 550 5.7.1) and the reason is logged. Each filter compiles once
// (with an on-disk compilation cache under DataDir/wasm-cache) and keeps a
// pool of warm instances; an instance serves one call at a time and is
// discarded after any error. See RATIONALE.md for the measured trade-offs.
package plugin

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"

	"github.com/sluice-mail/sluice/plugin/builtin"
)

// HostOptions are the process-wide settings of the plugin host.
type HostOptions struct {
	// DataDir holds the compilation cache (DataDir/wasm-cache) and the
	// plugins' key-value stores (DataDir/plugin-kv/<filter>). Empty: an
	// in-memory cache and no key-value store (kv calls fail with "unavailable").
	DataDir string
	// Logger is the parent logger; each filter logs under its own name.
	Logger hclog.Logger
	// MaxInstances caps the live instances of one filter (and so its
	// memory); calls beyond it wait for a free instance. 0: 2×GOMAXPROCS.
	MaxInstances int
	// Resolver and HTTPClient serve the dns and http grants; nil: defaults.
	Resolver   *net.Resolver
	HTTPClient *http.Client
	// Metrics, if set, counts every call per filter and stage (metrics.go);
	// share one across reloads so counters continue.
	Metrics *Metrics
	// CacheDir is where compiled code is cached on disk; empty: DataDir/wasm-cache.
	// Tests point every host at one directory so each module compiles once.
	CacheDir string
	// Blobs serves the "blob" grant (blob_put); nil: blob_put answers
	// "unavailable". serve passes the links store when a links block exists.
	Blobs BlobStore
	// BlobUsage counts each filter's stored blob bytes against its
	// blob_quota; share one across reloads. nil: the Host makes its own.
	BlobUsage *BlobUsage
	// Builtins gives the module of a filter configured with `builtin`;
	// nil: builtin.Module (embedded in a release build, built from source
	// in a development build). Tests hand in modules they built already.
	Builtins func(name string, log hclog.Logger) ([]byte, error)
}

// UserCacheDir is the per-user compilation cache the offline tools
// (sluice plugin test, sluice plugin check) share, so a plugin compiles
// once rather than at every run; "" when the user has no cache directory.
func UserCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "sluice", "wasm-cache")
}

// Host holds every configured filter, compiled and ready.
type Host struct {
	opts       HostOptions
	cache      wazero.CompilationCache
	filters    map[string]*filter
	order      []*filter
	httpClient *http.Client
	blobUsage  *BlobUsage
}

// NewHost compiles and checks every filter: ABI version, exports, imports
// and the declared stages against the configured ones. Errors name the filter.
func NewHost(ctx context.Context, filters []FilterSpec, opts HostOptions) (*Host, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	reserveGuestProcs()
	if opts.MaxInstances <= 0 {
		opts.MaxInstances = 2 * runtime.NumCPU() // GOMAXPROCS counts the guest threads' Ps too
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Builtins == nil {
		opts.Builtins = builtin.Module
	}
	h := &Host{opts: opts, filters: map[string]*filter{}, httpClient: opts.HTTPClient, blobUsage: opts.BlobUsage}
	if h.blobUsage == nil {
		h.blobUsage = NewBlobUsage()
	}
	if h.httpClient == nil {
		h.httpClient = &http.Client{
			Timeout: 30 * time.Second,
			// The endpoint is fixed by the operator: never follow a plugin elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if opts.CacheDir == "" && opts.DataDir != "" {
		opts.CacheDir = filepath.Join(opts.DataDir, "wasm-cache")
	}
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("plugin compilation cache: %w", err)
		}
		h.cache = c
	} else {
		h.cache = wazero.NewCompilationCache()
	}
	seen := map[string]bool{}
	for _, fc := range filters {
		if seen[fc.Name] {
			h.Close(ctx)
			return nil, fmt.Errorf("filter %q: defined twice", fc.Name)
		}
		seen[fc.Name] = true
	}
	// Compiling takes seconds per module the first time (then the cache
	// answers), so the filters load side by side, one per CPU, and each
	// load is logged as it starts and ends.
	// Filters of one module load one after the other: wazero's compilation
	// cache hands them the same compiled module, and instantiating it while
	// it is still being prepared for another runtime is a data race.
	loaded := make([]*filter, len(filters))
	errs := make([]error, len(filters))
	cpus := make(chan struct{}, runtime.NumCPU())
	modules := map[string]*sync.Mutex{}
	for _, fc := range filters {
		if modules[fc.Module()] == nil {
			modules[fc.Module()] = new(sync.Mutex)
		}
	}
	var wg sync.WaitGroup
	for i, fc := range filters {
		wg.Go(func() {
			mu := modules[fc.Module()]
			mu.Lock()
			defer mu.Unlock()
			cpus <- struct{}{}
			defer func() { <-cpus }()
			start := time.Now()
			opts.Logger.Info("loading filter", "filter", fc.Name, "module", fc.Module())
			loaded[i], errs[i] = newFilter(ctx, h, fc)
			if errs[i] == nil {
				opts.Logger.Info("filter loaded", "filter", fc.Name, "took", time.Since(start).Round(time.Millisecond))
			}
		})
	}
	wg.Wait()
	for _, f := range loaded {
		if f != nil {
			h.filters[f.name] = f
			h.order = append(h.order, f)
		}
	}
	for i, err := range errs {
		if err != nil {
			h.Close(ctx)
			return nil, fmt.Errorf("filter %q (%s): %w", filters[i].Name, filters[i].Module(), err)
		}
	}
	opts.Metrics.attach(h)
	return h, nil
}

// Close stops every instance and releases the compiled code.
func (h *Host) Close(ctx context.Context) error {
	var errs []error
	for _, f := range h.order {
		errs = append(errs, f.close(ctx))
	}
	h.order, h.filters = nil, map[string]*filter{}
	errs = append(errs, h.cache.Close(ctx))
	return errors.Join(errs...)
}

// Chain returns the ordered chain of the named filters. An empty list gives
// an empty chain whose methods return Continue at once; an unknown name is
// an error, never silently skipped.
func (h *Host) Chain(names []string) (*Chain, error) {
	c := &Chain{}
	for _, n := range names {
		f, ok := h.filters[n]
		if !ok {
			return nil, fmt.Errorf("filter %q is not defined", n)
		}
		c.filters = append(c.filters, f)
	}
	return c, nil
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$`)

func kvDir(dataDir, filter string) string {
	name := filter
	if !safeName.MatchString(name) {
		name = "x-" + hex.EncodeToString([]byte(filter))
	}
	return filepath.Join(dataDir, "plugin-kv", name)
}
