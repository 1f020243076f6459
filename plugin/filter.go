package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/sluice-mail/sluice/plugin/interrupt"
	"github.com/sluice-mail/sluice/sdk/abi"
	"github.com/sluice-mail/sluice/sdk/dnsname"
)

// Defaults for a filter block that leaves a limit unset.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMemoryBytes = 64 << 20
	initTimeout        = 10 * time.Second // instantiate + _initialize
	pageSize           = 65536
)

// SupportedABIVersions lists the plugin ABI versions this host runs.
var SupportedABIVersions = []int32{abi.Version}

// filter is one configured plugin: its own runtime (the memory cap is a
// runtime setting), its compiled module and a pool of warm instances.
type filter struct {
	host       *Host
	name       string
	nameJSON   []byte // name as a JSON string, for the event's filter field
	packed     bool   // the plugin asked for packed events (abi.EncodingPacked)
	namePacked []byte // name as a packed string
	cfg        FilterSpec
	log        hclog.Logger
	logs       *logSink
	rt         wazero.Runtime
	mod        wazero.CompiledModule
	stages     int32 // stages the filter runs at
	timeout    time.Duration
	memLimit   uint64 // bytes
	onError    Action
	grants     fileSocketGrants // files and socket (grants.go)
	grantDNS   bool
	grantHTTP  bool
	grantBlob  bool
	grantRelay bool // new recipients need not pass the relay-access rule (policy.go)
	// blob_quota and blob_message_quota, in bytes (blobquota.go)
	blobQuota, blobMessageQuota int64
	sign                        signGrant     // sign (sign.go)
	resolver                    *net.Resolver // answers the dns grant
	dnsZones                    []string      // the only zones the dns grant may ask about; nil: any
	kv                          *kvStore

	idle chan *instance // warm instances
	live chan struct{}  // one token per live instance, capping their number
}

// instance is one instantiated module. It is owned by one goroutine at a
// time: taken from the pool, used, then returned or discarded.
type instance struct {
	mod     api.Module
	mem     api.Memory
	alloc   api.Function
	onEvent api.Function
	stop    api.MutableGlobal // interrupt.StopExport: non-zero stops the running call
	stopped chan struct{}     // closed with stop set: wakes a sleeping guest
}

// guarded runs call with the instance's interrupt armed: when ctx is done
// (the filter's timeout, or the caller gave up) the guest traps within
// microseconds, or at once from a sleep. A call the interrupt stopped
// returns an interruptedError naming limit, the time ctx allowed. fired reports that the interrupt fired: the
// instance must then be discarded even if call returned in time (an
// instance is interrupted at most once).
func (inst *instance) guarded(ctx context.Context, limit time.Duration, call func() error) (fired bool, err error) {
	disarm := context.AfterFunc(ctx, func() {
		inst.stop.Set(1)
		close(inst.stopped)
	})
	onGuestThread(ctx, func(context.Context) { err = call() })
	fired = !disarm()
	if fired && err != nil {
		err = interruptedError{ctx.Err(), limit}
	}
	return fired, err
}

// nanosleep serves the guest's sleeps (WASI poll_oneoff) until they end
// or the instance is interrupted; then the guest runs on to its next check.
func (inst *instance) nanosleep(ns int64) {
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-inst.stopped:
	}
}

// Grants are the capabilities an operator may grant a filter (ABI.md
// section 4 says which host functions each opens).
var Grants = []string{"dns", "http", "files", "socket", "blob", "sign", "relay"}

func newFilter(ctx context.Context, h *Host, cfg FilterSpec) (*filter, error) {
	f := &filter{
		host: h, name: cfg.Name, cfg: cfg,
		log:     h.opts.Logger.Named(cfg.Name),
		timeout: cfg.Timeout, memLimit: uint64(cfg.MemoryBytes),
	}
	f.logs = newLogSink(f.log)
	if len(bytes.TrimSpace(cfg.ConfigJSON)) == 0 {
		// No config block: config_read answers {} (ABI.md section 4), as the
		// relay's configuration loader gives it, so that a plugin behaves
		// the same under `plugin test`, `plugin check` and any other caller.
		f.cfg.ConfigJSON = []byte("{}")
	}
	f.nameJSON, _ = json.Marshal(cfg.Name)
	f.namePacked = abi.AppendPackedString(nil, cfg.Name)
	if f.timeout <= 0 {
		f.timeout = DefaultTimeout
	}
	if f.memLimit == 0 {
		f.memLimit = DefaultMemoryBytes
	}
	switch cfg.OnError {
	case "", "tempfail":
		f.onError = Tempfail
	case "continue":
		f.onError = Continue
	case "reject":
		f.onError = Reject
	default:
		return nil, fmt.Errorf("on_error %q: want tempfail, continue or reject", cfg.OnError)
	}
	for _, g := range cfg.Grants {
		switch g {
		case "dns":
			f.grantDNS = true
		case "http":
			if cfg.HTTPEndpoint == "" {
				return nil, errors.New(`grant "http" needs http_endpoint`)
			}
			f.grantHTTP = true
		case "files", "socket":
			if err := f.grants.grant(g, cfg); err != nil {
				return nil, err
			}
		case "blob":
			f.grantBlob = true
			f.blobQuota, f.blobMessageQuota = cfg.BlobQuota, cfg.BlobMessageQuota
			if f.blobQuota <= 0 {
				f.blobQuota = abi.DefaultBlobQuota
			}
			if f.blobMessageQuota <= 0 {
				f.blobMessageQuota = abi.DefaultBlobMessageQuota
			}
		case "relay":
			f.grantRelay = true
		case "sign":
			sg, err := loadSigningKeys(cfg, f.log)
			if err != nil {
				return nil, err
			}
			f.sign = sg
		default:
			return nil, fmt.Errorf("unknown grant %q (known: %s)", g, strings.Join(Grants, ", "))
		}
	}
	for _, z := range cfg.DNSZones {
		f.dnsZones = append(f.dnsZones, dnsname.ASCII(z))
	}
	f.resolver = h.opts.Resolver
	if cfg.Resolver != "" {
		f.resolver = resolverAt(cfg.Resolver)
	}
	pages := (f.memLimit + pageSize - 1) / pageSize
	if pages > 65536 {
		return nil, fmt.Errorf("memory %d bytes exceeds the 4 GiB of wasm32", f.memLimit)
	}
	var wasm []byte
	var err error
	if cfg.Builtin != "" {
		// Loaded from here on exactly like a module from a file.
		wasm, err = h.opts.Builtins(cfg.Builtin, f.log)
	} else {
		wasm, err = os.ReadFile(cfg.Wasm)
	}
	if err != nil {
		return nil, err
	}
	// Calls are interrupted by the checks plugin/interrupt inserts, not by
	// wazero's WithCloseOnContextDone, which costs a Go plugin 4-5x.
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(h.cache).
		WithMemoryLimitPages(uint32(pages))
	f.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := f.setup(ctx, wasm); err != nil {
		f.rt.Close(ctx)
		return nil, err
	}
	return f, nil
}

// resolverAt is a resolver that sends every query to the DNS server at
// addr (host:port), over UDP with Go's usual fallback to TCP.
func resolverAt(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

func (f *filter) setup(ctx context.Context, wasm []byte) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, f.rt); err != nil {
		return err
	}
	if err := instantiateHostModule(ctx, f.rt); err != nil {
		return err
	}
	wasm, err := interrupt.Instrument(wasm)
	if err != nil {
		return fmt.Errorf("compile %s: %w", f.cfg.Module(), err)
	}
	mod, err := f.rt.CompileModule(ctx, wasm)
	if err != nil {
		return fmt.Errorf("compile %s: %w", f.cfg.Module(), err)
	}
	f.mod = mod
	if err := checkModule(mod); err != nil {
		return err
	}
	if f.host.opts.DataDir != "" {
		if f.kv, err = openKV(kvDir(f.host.opts.DataDir, f.name)); err != nil {
			return err
		}
	}
	// The first instance answers the version and stage questions, then
	// becomes the first warm instance of the pool.
	max := f.host.opts.MaxInstances
	f.idle = make(chan *instance, max)
	f.live = make(chan struct{}, max)
	f.live <- struct{}{}
	inst, err := f.instantiate(ctx)
	if err != nil {
		<-f.live
		return err
	}
	ictx, cancel := context.WithTimeout(context.WithValue(ctx, stateKey{}, &callState{f: f}), initTimeout)
	defer cancel()
	version, err := inst.call0(ictx, abi.ExportABIVersion)
	if err != nil {
		f.discard(inst)
		return fmt.Errorf("%s: %s", abi.ExportABIVersion, f.describe(err, inst))
	}
	if !slices.Contains(SupportedABIVersions, int32(version)) {
		f.discard(inst)
		return fmt.Errorf("plugin speaks ABI version %d; this sluice supports version %s", int32(version), joinInts(SupportedABIVersions))
	}
	declared, err := inst.call0(ictx, abi.ExportStages)
	if err != nil {
		f.discard(inst)
		return fmt.Errorf("%s: %s", abi.ExportStages, f.describe(err, inst))
	}
	if err := f.chooseStages(int32(declared)); err != nil {
		f.discard(inst)
		return err
	}
	if inst.mod.ExportedFunction(abi.ExportEventEncoding) != nil {
		enc, err := inst.call0(ictx, abi.ExportEventEncoding)
		if err != nil {
			f.discard(inst)
			return fmt.Errorf("%s: %s", abi.ExportEventEncoding, f.describe(err, inst))
		}
		switch int32(enc) {
		case abi.EncodingJSON:
		case abi.EncodingPacked:
			f.packed = true
		default:
			f.discard(inst)
			return fmt.Errorf("%s returned %d; this sluice knows %d (JSON) and %d (packed)", abi.ExportEventEncoding, int32(enc), abi.EncodingJSON, abi.EncodingPacked)
		}
	}
	f.idle <- inst
	return nil
}

func joinInts(v []int32) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// chooseStages intersects what the operator configured with what the
// plugin declares: configuring a stage the plugin does not handle is an error.
func (f *filter) chooseStages(declared int32) error {
	if declared&^abi.AllStages != 0 || declared == 0 {
		return fmt.Errorf("%s returned %#x: no known stage bits", abi.ExportStages, declared)
	}
	if len(f.cfg.Stages) == 0 {
		f.stages = declared
		return nil
	}
	for _, s := range f.cfg.Stages {
		bit, ok := abi.StageBits[s]
		if !ok {
			return fmt.Errorf("unknown stage %q (known: %s)", s, strings.Join(abi.StageNames, ", "))
		}
		if declared&bit == 0 {
			return fmt.Errorf("stage %q is configured but the plugin does not handle it (it handles: %s)", s, stageList(declared))
		}
		f.stages |= bit
	}
	return nil
}

func stageList(bits int32) string {
	var s []string
	for _, n := range abi.StageNames {
		if bits&abi.StageBits[n] != 0 {
			s = append(s, n)
		}
	}
	return strings.Join(s, ", ")
}

// errCommandModule refuses a WASI command (a program exporting _start)
// rather than running it wrongly: sluice never calls _start, so a Go
// command's runtime is never set up, and clang wraps every export of a C
// command so that it runs the constructors before and the destructors
// after each call (clang 14 and wasi-libc: the second call then traps in
// atexit's list). Nothing that works exports _start, so a refusal at load
// costs no one a working filter.
var errCommandModule = fmt.Errorf("exports %s: a WASI command (program), not a reactor (library); "+
	"build a reactor (C: -mexec-model=reactor; Go: -buildmode=c-shared; Rust: --crate-type cdylib)", abi.ExportStart)

// checkModule verifies the exports and imports of ABI v1 before anything runs.
func checkModule(mod wazero.CompiledModule) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	want := []struct {
		name          string
		params, rests []api.ValueType
	}{
		{abi.ExportABIVersion, nil, []api.ValueType{i32}},
		{abi.ExportStages, nil, []api.ValueType{i32}},
		{abi.ExportAlloc, []api.ValueType{i32}, []api.ValueType{i32}},
		{abi.ExportOnEvent, []api.ValueType{i32, i32}, []api.ValueType{i64}},
	}
	exps := mod.ExportedFunctions()
	for _, w := range want {
		d, ok := exps[w.name]
		if !ok {
			return fmt.Errorf("not a sluice plugin: missing export %s", w.name)
		}
		if !slices.Equal(d.ParamTypes(), w.params) || !slices.Equal(d.ResultTypes(), w.rests) {
			return fmt.Errorf("export %s has the wrong signature", w.name)
		}
	}
	if d, ok := exps[abi.ExportInitialize]; ok && (len(d.ParamTypes()) != 0 || len(d.ResultTypes()) != 0) {
		return fmt.Errorf("export %s has the wrong signature", abi.ExportInitialize)
	}
	if _, ok := exps[abi.ExportStart]; ok {
		return errCommandModule
	}
	if d, ok := exps[abi.ExportEventEncoding]; ok && (len(d.ParamTypes()) != 0 || !slices.Equal(d.ResultTypes(), []api.ValueType{i32})) {
		return fmt.Errorf("export %s has the wrong signature", abi.ExportEventEncoding)
	}
	if _, ok := mod.ExportedMemories()["memory"]; !ok {
		return errors.New("not a sluice plugin: missing exported memory \"memory\"")
	}
	for _, d := range mod.ImportedFunctions() {
		mod, name, _ := d.Import()
		switch mod {
		case wasi_snapshot_preview1.ModuleName:
		case abi.Module:
			if !hostFuncNames[name] {
				return fmt.Errorf("imports %s.%s, which ABI v1 does not provide", mod, name)
			}
		default:
			return fmt.Errorf("imports from module %q; only %q and %q exist", mod, abi.Module, wasi_snapshot_preview1.ModuleName)
		}
	}
	return nil
}

// call0 calls a niladic export that answers one number.
func (inst *instance) call0(ctx context.Context, name string) (uint64, error) {
	var res []uint64
	fired, err := inst.guarded(ctx, initTimeout, func() (err error) {
		res, err = inst.mod.ExportedFunction(name).Call(ctx)
		return err
	})
	if err != nil {
		return 0, err
	}
	if fired {
		return 0, interruptedError{ctx.Err(), initTimeout}
	}
	return res[0], nil
}

// interruptedError is a call stopped by the instance's interrupt, because
// of cause (the context's error), with limit the time the call was allowed.
type interruptedError struct {
	cause error
	limit time.Duration
}

func (e interruptedError) Error() string { return "interrupted: " + e.cause.Error() }

// instantiate creates a sandboxed instance: no file system, no sockets, no
// environment or arguments, real clocks and randomness (wazero's are fake
// by default), output to the rate-limited log. The caller holds a live token.
func (f *filter) instantiate(ctx context.Context) (*instance, error) {
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, stateKey{}, &callState{f: f}), initTimeout)
	defer cancel()
	inst := &instance{stopped: make(chan struct{})}
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(&lineWriter{sink: f.logs, stream: "stdout", stopped: inst.stopped}).
		WithStderr(&lineWriter{sink: f.logs, stream: "stderr", stopped: inst.stopped}).
		WithSysWalltime().WithSysNanotime().WithNanosleep(inst.nanosleep).
		WithRandSource(randReader{inst.stopped})
	m, err := f.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, linearMemory), f.mod, mc)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	stop, _ := m.ExportedGlobal(interrupt.StopExport).(api.MutableGlobal)
	if stop == nil { // Instrument adds it: cannot happen
		m.Close(context.Background())
		return nil, fmt.Errorf("instantiate: no %s global", interrupt.StopExport)
	}
	inst.mod, inst.mem, inst.stop = m, m.Memory(), stop
	inst.alloc, inst.onEvent = m.ExportedFunction(abi.ExportAlloc), m.ExportedFunction(abi.ExportOnEvent)
	// The module's start function (moved out of instantiation by
	// plugin/interrupt, so that it can be stopped), then _initialize, both
	// within the one initialisation limit.
	for _, init := range []struct{ export, what string }{
		{interrupt.StartExport, "start function"},
		{abi.ExportInitialize, abi.ExportInitialize},
	} {
		fn := m.ExportedFunction(init.export)
		if fn == nil {
			continue
		}
		fired, err := inst.guarded(ctx, initTimeout, func() error { _, err := fn.Call(ctx); return err })
		if fired && err == nil {
			err = interruptedError{ctx.Err(), initTimeout}
		}
		if err != nil {
			reason := f.describe(err, inst)
			m.Close(context.Background())
			return nil, fmt.Errorf("%s: %s", init.what, reason)
		}
	}
	return inst, nil
}

// get takes a warm instance, or creates one while under the cap, or waits.
func (f *filter) get(ctx context.Context) (*instance, error) {
	select {
	case inst := <-f.idle:
		return inst, nil
	default:
	}
	select {
	case inst := <-f.idle:
		return inst, nil
	case f.live <- struct{}{}:
		inst, err := f.instantiate(ctx)
		if err != nil {
			<-f.live
			return nil, err
		}
		return inst, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *filter) put(inst *instance) { f.idle <- inst }

// discard closes an instance after an error: its state can no longer be trusted.
func (f *filter) discard(inst *instance) {
	inst.mod.Close(context.Background())
	<-f.live
	f.host.opts.Metrics.recycled(f.name)
}

// call runs one event through a pooled instance and returns a copy of the
// result document. On any error the instance is discarded.
func (f *filter) call(ctx context.Context, st *callState, event []byte) ([]byte, error) {
	inst, err := f.get(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, stateKey{}, st), f.timeout)
	defer cancel()
	var out []byte
	fired, err := inst.guarded(ctx, f.timeout, func() (err error) {
		out, err = inst.run(ctx, event)
		return err
	})
	f.logs.flush()
	if err != nil {
		reason := f.describe(err, inst)
		f.discard(inst)
		return nil, errors.New(reason)
	}
	if fired { // answered just in time, but the interrupt is set
		f.discard(inst)
	} else {
		f.put(inst)
	}
	return out, nil
}

// errBadGuest marks a protocol violation by the guest (not a trap).
type errBadGuest string

func (e errBadGuest) Error() string { return string(e) }

func (inst *instance) run(ctx context.Context, event []byte) ([]byte, error) {
	stack := []uint64{uint64(len(event)), 0}
	if err := inst.alloc.CallWithStack(ctx, stack); err != nil {
		return nil, err
	}
	ptr := uint32(stack[0])
	if ptr == 0 || !inst.mem.Write(ptr, event) {
		return nil, errBadGuest(fmt.Sprintf("%s(%d) returned an invalid buffer %#x", abi.ExportAlloc, len(event), ptr))
	}
	stack[0], stack[1] = uint64(ptr), uint64(len(event))
	if err := inst.onEvent.CallWithStack(ctx, stack); err != nil {
		return nil, err
	}
	rp, rn := uint32(stack[0]>>32), uint32(stack[0])
	if rn > abi.MaxResultBytes {
		return nil, errBadGuest(fmt.Sprintf("result of %d bytes exceeds %d", rn, abi.MaxResultBytes))
	}
	b, ok := inst.mem.Read(rp, rn)
	if !ok {
		return nil, errBadGuest(fmt.Sprintf("result (%#x, %d) lies outside guest memory", rp, rn))
	}
	return bytes.Clone(b), nil
}

// describe turns a call error into a reason for the log.
func (f *filter) describe(err error, inst *instance) string {
	var exit *sys.ExitError
	var bad errBadGuest
	var stopped interruptedError
	switch {
	case errors.As(err, &stopped) && errors.Is(stopped.cause, context.DeadlineExceeded):
		return fmt.Sprintf("timeout: no answer within %s", stopped.limit)
	case errors.As(err, &stopped):
		return "canceled by the caller"
	case errors.As(err, &exit):
		return fmt.Sprintf("plugin exited (proc_exit %d)", exit.ExitCode())
	case errors.As(err, &bad):
		return "invalid output: " + bad.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "no instance available: " + err.Error()
	}
	// A Go guest that cannot grow its memory dies with a trap; the runtime
	// allocates in 4 MiB arenas, so "close to the cap" means out of memory.
	if inst != nil && inst.mem != nil && uint64(inst.mem.Size())+8<<20 > f.memLimit && strings.Contains(err.Error(), "wasm error") {
		return fmt.Sprintf("out of memory (limit %d bytes): %v", f.memLimit, firstLine(err))
	}
	if strings.Contains(err.Error(), "wasm error") {
		return "trap: " + firstLine(err)
	}
	return err.Error()
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func (f *filter) close(ctx context.Context) error {
	return f.rt.Close(ctx)
}
