package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/sluice-mail/sluice/plugin/interrupt"
	"github.com/sluice-mail/sluice/sdk/abi"
)

// CheckOptions tune a conformance run of one plugin.
type CheckOptions struct {
	ConfigJSON   []byte        // the filter's config block, as JSON
	Timeout      time.Duration // per event; 0: DefaultTimeout
	MemoryBytes  int64         // 0: DefaultMemoryBytes
	Grants       []string
	HTTPEndpoint string
	Logger       hclog.Logger // the plugin's own log lines; nil: discarded
}

// CheckReport is what Check found. The plugin conforms when Problems is empty.
type CheckReport struct {
	File       string   `json:"file"`
	ABIVersion int32    `json:"abi_version,omitempty"` // 0 when the module never got that far
	Stages     []string `json:"stages,omitempty"`      // the stages it declares
	Imports    []string `json:"imports,omitempty"`     // "module.name"
	Events     []string `json:"events,omitempty"`      // the standard events it was run through
	Problems   []string `json:"problems"`
}

// OK reports whether the plugin passed every check.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

func (r *CheckReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Check is the ABI conformance kit behind `sluice plugin check`. It checks
// the module's shape against ABI v1 (every export and import, with
// signatures, all problems at once), loads it as the relay would (ABI
// version, declared stages, _initialize), then runs it through a standard
// set of events at every stage it declares (empty and large bodies, many
// recipients, odd header encodings, MIME trees, the null sender) and
// validates every verdict and change it returns with the relay's own
// validation, plus applying the changes to the message.
func Check(ctx context.Context, file string, opts CheckOptions) *CheckReport {
	rep := &CheckReport{File: file, Problems: []string{}}
	wasm, err := os.ReadFile(file)
	if err != nil {
		rep.problem("%v", err)
		return rep
	}
	// Sizes first: wazero, reading the shape, allocates what a module
	// declares. (Not a module at all: checkShape says so with wazero's words.)
	if err := interrupt.CheckSizes(wasm); err != nil && !errors.Is(err, interrupt.ErrNotModule) {
		rep.problem("%v", err)
		return rep
	}
	if !checkShape(ctx, wasm, rep) {
		return rep
	}
	dir, err := os.MkdirTemp("", "sluice-plugin-check-")
	if err != nil {
		rep.problem("%v", err)
		return rep
	}
	defer os.RemoveAll(dir)
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	current := ""
	m := NewMetrics()
	m.onFailure = func(_, stage, kind, reason string) {
		rep.problem("%s: %s (%s)", current, reason, kind)
	}
	const name = "check"
	h, err := NewHost(ctx, []FilterSpec{{
		Name: name, Wasm: file, ConfigJSON: opts.ConfigJSON, Timeout: opts.Timeout, MemoryBytes: opts.MemoryBytes,
		Grants: opts.Grants, HTTPEndpoint: opts.HTTPEndpoint, OnError: "tempfail",
	}}, HostOptions{DataDir: dir, CacheDir: UserCacheDir(), Logger: opts.Logger, Metrics: m, MaxInstances: 1})
	if err != nil {
		rep.problem("%s", strings.TrimPrefix(err.Error(), fmt.Sprintf("filter %q (%s): ", name, file)))
		return rep
	}
	defer h.Close(ctx)
	f := h.filters[name]
	rep.ABIVersion = abi.Version
	for _, s := range abi.StageNames {
		if f.stages&abi.StageBits[s] != 0 {
			rep.Stages = append(rep.Stages, s)
		}
	}
	chain, _ := h.Chain([]string{name})
	for _, ev := range checkEvents() {
		if f.stages&abi.StageBits[ev.stage] == 0 {
			continue
		}
		current = ev.stage + " stage, " + ev.name
		rep.Events = append(rep.Events, current)
		if err := ev.run(ctx, chain); err != nil {
			rep.problem("%s: %v", current, err)
		}
	}
	return rep
}

// checkShape compiles the module (with the interpreter: no native code is
// needed to read its shape) and compares its exports and imports with ABI
// v1, taking the host side's signatures from the host modules themselves.
func checkShape(ctx context.Context, wasm []byte, rep *CheckReport) bool {
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rep.problem("%v", err)
		return false
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		rep.problem("%v", err)
		return false
	}
	mod, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		rep.problem("not a valid WebAssembly module: %v", err)
		return false
	}
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	exps := mod.ExportedFunctions()
	for _, w := range []struct {
		name            string
		params, results []api.ValueType
		optional        bool
	}{
		{abi.ExportABIVersion, nil, []api.ValueType{i32}, false},
		{abi.ExportStages, nil, []api.ValueType{i32}, false},
		{abi.ExportAlloc, []api.ValueType{i32}, []api.ValueType{i32}, false},
		{abi.ExportOnEvent, []api.ValueType{i32, i32}, []api.ValueType{i64}, false},
		{abi.ExportInitialize, nil, nil, true},
	} {
		d, ok := exps[w.name]
		switch {
		case !ok && !w.optional:
			rep.problem("missing export %s %s", w.name, signature(w.params, w.results))
		case ok && (!slices.Equal(d.ParamTypes(), w.params) || !slices.Equal(d.ResultTypes(), w.results)):
			rep.problem("export %s has signature %s; ABI v1 wants %s", w.name,
				signature(d.ParamTypes(), d.ResultTypes()), signature(w.params, w.results))
		}
	}
	if _, ok := exps[abi.ExportStart]; ok {
		rep.problem("%v", errCommandModule)
	}
	if _, ok := mod.ExportedMemories()["memory"]; !ok {
		rep.problem(`missing exported memory "memory"`)
	}
	provided := map[string]map[string]api.FunctionDefinition{
		abi.Module:                        rt.Module(abi.Module).ExportedFunctionDefinitions(),
		wasi_snapshot_preview1.ModuleName: rt.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions(),
	}
	for _, d := range mod.ImportedFunctions() {
		m, n, _ := d.Import()
		if slices.Contains(rep.Imports, m+"."+n) {
			continue
		}
		rep.Imports = append(rep.Imports, m+"."+n)
		defs, known := provided[m]
		if !known {
			rep.problem("imports %s.%s: only the modules %q and %q exist", m, n, abi.Module, wasi_snapshot_preview1.ModuleName)
			continue
		}
		hd, ok := defs[n]
		if !ok {
			rep.problem("imports %s.%s, which ABI v1 does not provide", m, n)
			continue
		}
		if !slices.Equal(d.ParamTypes(), hd.ParamTypes()) || !slices.Equal(d.ResultTypes(), hd.ResultTypes()) {
			rep.problem("imports %s.%s with signature %s; the host's is %s", m, n,
				signature(d.ParamTypes(), d.ResultTypes()), signature(hd.ParamTypes(), hd.ResultTypes()))
		}
	}
	for _, imp := range mod.ImportedMemories() {
		m, n, _ := imp.Import()
		rep.problem("imports memory %s.%s: the module must define and export its own", m, n)
	}
	return len(rep.Problems) == 0
}

func signature(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	return "(" + names(params) + ") -> (" + names(results) + ")"
}

// checkEvent is one standard event of the conformance run.
type checkEvent struct {
	stage, name string
	run         func(ctx context.Context, c *Chain) error
}

// checkEvents is the standard set: every stage, ordinary and awkward.
func checkEvents() []checkEvent {
	plain := func() *Session {
		return &Session{ID: "check-1", ClientIP: netip.MustParseAddr("192.0.2.7"), ClientPort: 40001,
			Listener: "mx", ListenerKind: "smtp", Helo: "client.example", HeloExtended: true}
	}
	tlsV6 := func() *Session {
		return &Session{ID: "check-2", ClientIP: netip.MustParseAddr("2001:db8::25"), ClientPort: 40002,
			Listener: "submission", ListenerKind: "submission", TLS: true, TLSVersion: "TLS1.3",
			TLSCipher: "TLS_AES_128_GCM_SHA256", Helo: "laptop.example", HeloExtended: true, AuthUser: "alice"}
	}
	txn := func(from string, n int) *Txn {
		t := &Txn{Session: plain(), QueueID: "CHECK0001", From: from,
			MailParams: map[string]string{"BODY": "8BITMIME", "SIZE": "4096"}}
		for i := range n {
			t.Recipients = append(t.Recipients, Recipient{Addr: fmt.Sprintf("user%d@example.com", i)})
		}
		return t
	}
	verdictOnly := func(v Verdict) error { return nil }
	data := func(t *Txn, msg string) func(context.Context, *Chain) error {
		return func(ctx context.Context, c *Chain) error {
			m, err := ReadMessage(strings.NewReader(msg), int64(len(msg)))
			if err != nil {
				return fmt.Errorf("test message unreadable: %v", err)
			}
			_, ch := c.Data(ctx, t, m)
			if ch.MessageChanged() {
				if err := Apply(ch, strings.NewReader(msg), io.Discard); err != nil {
					return fmt.Errorf("changes cannot be applied: %v", err)
				}
			}
			return nil
		}
	}
	utf8Txn := txn("üser@exämple.org", 1)
	utf8Txn.MailParams["SMTPUTF8"] = ""
	rcpt1000 := txn("bob@example.org", 999)
	return []checkEvent{
		{"connect", "IPv4, no TLS", func(ctx context.Context, c *Chain) error { return verdictOnly(c.Connect(ctx, plain())) }},
		{"connect", "IPv6, TLS 1.3", func(ctx context.Context, c *Chain) error { return verdictOnly(c.Connect(ctx, tlsV6())) }},
		{"helo", "EHLO name", func(ctx context.Context, c *Chain) error { return verdictOnly(c.Helo(ctx, plain())) }},
		{"helo", "HELO address literal", func(ctx context.Context, c *Chain) error {
			s := plain()
			s.Helo, s.HeloExtended = "[192.0.2.7]", false
			return verdictOnly(c.Helo(ctx, s))
		}},
		{"helo", "EHLO with a UTF-8 name", func(ctx context.Context, c *Chain) error {
			s := plain()
			s.Helo = "mail.exämple.org"
			return verdictOnly(c.Helo(ctx, s))
		}},
		{"auth", "PLAIN success", func(ctx context.Context, c *Chain) error {
			return verdictOnly(c.Auth(ctx, tlsV6(), "PLAIN", "alice", true))
		}},
		{"auth", "LOGIN failure", func(ctx context.Context, c *Chain) error {
			return verdictOnly(c.Auth(ctx, tlsV6(), "LOGIN", "mallory", false))
		}},
		{"mail", "ordinary sender with parameters", func(ctx context.Context, c *Chain) error { return verdictOnly(c.Mail(ctx, txn("bob@example.org", 0))) }},
		{"mail", "null sender", func(ctx context.Context, c *Chain) error { return verdictOnly(c.Mail(ctx, txn("", 0))) }},
		{"mail", "SMTPUTF8 sender", func(ctx context.Context, c *Chain) error { return verdictOnly(c.Mail(ctx, utf8Txn)) }},
		{"rcpt", "first recipient", func(ctx context.Context, c *Chain) error {
			return verdictOnly(c.Rcpt(ctx, txn("bob@example.org", 0), Recipient{Addr: "alice@example.com"}))
		}},
		{"rcpt", "1000th recipient with DSN parameters", func(ctx context.Context, c *Chain) error {
			return verdictOnly(c.Rcpt(ctx, rcpt1000, Recipient{Addr: "last@example.com", Params: map[string]string{"NOTIFY": "FAILURE,DELAY", "ORCPT": "rfc822;last@example.com"}}))
		}},
		{"data", "empty body", data(txn("bob@example.org", 1), "From: bob@example.org\r\nTo: user0@example.com\r\nSubject: empty\r\n\r\n")},
		{"data", "no header at all", data(txn("bob@example.org", 1), "\r\njust a body, no header\r\n")},
		{"data", "odd header encodings", data(txn("bob@example.org", 2), oddHeaderMsg)},
		{"data", "nested MIME", data(txn("bob@example.org", 1), mimeMsg)},
		{"data", "8 MiB body", data(txn("bob@example.org", 1), largeMsg(8<<20))},
		{"data", "1000 recipients", data(txn("bob@example.org", 1000), "From: bob@example.org\r\nSubject: many\r\n\r\nhello all\r\n")},
		{"data", "bounce from the null sender", data(txn("", 1), dsnMsg)},
		{"delivered", "mixed outcomes", func(ctx context.Context, c *Chain) error {
			c.Delivered(ctx, txn("bob@example.org", 3), []Outcome{
				{Rcpt: "user0@example.com", Code: 250, Enhanced: "2.0.0", Text: "OK", Delivered: true},
				{Rcpt: "user1@example.com", Code: 450, Enhanced: "4.2.0", Text: "Mailbox busy"},
				{Rcpt: "user2@example.com", Code: 550, Enhanced: "5.1.1", Text: "No such user", Permanent: true},
			})
			return nil
		}},
	}
}

// oddHeaderMsg has encoded words in several charsets, raw UTF-8, a raw
// Latin-1 byte (not UTF-8), an empty field, folding, a long line and
// duplicate names in different case.
var oddHeaderMsg = "From: =?UTF-8?B?w4lsb8Ovc2U=?= <eloise@example.org>\r\n" +
	"To: \"Dupont, Jean\" <jean@example.com>, =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>\r\n" +
	"Subject: =?utf-8?q?caf=C3=A9?= and raw UTF-8: caf\xc3\xa9 \xe2\x98\x95\r\n" +
	"X-Latin1: caf\xe9 (not UTF-8)\r\n" +
	"X-Empty:\r\n" +
	"X-Folded: first line\r\n\tsecond line\r\n   third line\r\n" +
	"X-Long: " + strings.Repeat("x", 900) + "\r\n" +
	"X-Dup: 1\r\nx-dup: 2\r\n" +
	"Content-Type: text/plain; charset=\"iso-8859-1\"\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"\r\nbody with an 8-bit \xe9 byte\r\n"

var mimeMsg = "From: bob@example.org\r\nSubject: tree\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
	"preamble\r\n--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n\r\n" +
	"--inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n" +
	"--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>caf\xc3\xa9</p>\r\n--inner--\r\n" +
	"--outer\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcTl8uXrp/Og0MTGCg==\r\n" +
	"--outer\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.net\r\nSubject: forwarded\r\n\r\ninner body\r\n" +
	"--outer--\r\nepilogue\r\n"

var dsnMsg = "From: MAILER-DAEMON@relay.example\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n" +
	"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.example\r\n\r\nFinal-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n" +
	"--b--\r\n"

// largeMsg is a plain message whose body is n bytes of 78-byte lines.
func largeMsg(n int) string {
	var b bytes.Buffer
	b.WriteString("From: bob@example.org\r\nSubject: large\r\n\r\n")
	line := strings.Repeat("0123456789", 7) + "abcdef\r\n"
	for b.Len() < n {
		b.WriteString(line)
	}
	return b.String()
}
