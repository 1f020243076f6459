package plugin

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/miekg/dns"
)

type v map[string]any

// runStage runs one stage of chain c and returns its verdict and changes.
func runStage(t testing.TB, c *Chain, stage string) (Verdict, *Changes) {
	t.Helper()
	ctx := context.Background()
	txn := testTxn()
	switch stage {
	case "connect":
		return c.Connect(ctx, txn.Session), nil
	case "helo":
		return c.Helo(ctx, txn.Session), nil
	case "auth":
		return c.Auth(ctx, txn.Session, "PLAIN", "alice", true), nil
	case "mail":
		return c.Mail(ctx, txn), nil
	case "rcpt":
		return c.Rcpt(ctx, txn, Recipient{Addr: "dave@example.com"}), nil
	case "data":
		return c.Data(ctx, txn, testMessage(t, simpleMsg))
	case "delivered":
		c.Delivered(ctx, txn, []Outcome{{Rcpt: "alice@example.com", Code: 250, Delivered: true}})
		return Verdict{Action: Continue}, nil
	}
	t.Fatalf("unknown stage %s", stage)
	return Verdict{}, nil
}

var dialogStages = []string{"connect", "helo", "auth", "mail", "rcpt", "data"}

func TestVerdictEachStage(t *testing.T) {
	type tc struct {
		action   string
		code     int
		enhanced string
		text     string
		want     Verdict
	}
	cases := []tc{
		{action: "continue", want: Verdict{Action: Continue}},
		{action: "accept", want: Verdict{Action: Accept, Filter: "f"}},
		{action: "reject", code: 554, enhanced: "5.7.0", text: "No thanks", want: Verdict{Action: Reject, Code: 554, Enhanced: "5.7.0", Text: "No thanks", Filter: "f"}},
		{action: "reject", want: Verdict{Action: Reject, Code: 550, Enhanced: "5.7.1", Text: "Rejected by policy", Filter: "f"}},
		{action: "tempfail", code: 450, enhanced: "4.2.0", text: "Later", want: Verdict{Action: Tempfail, Code: 450, Enhanced: "4.2.0", Text: "Later", Filter: "f"}},
		{action: "tempfail", code: 421, want: Verdict{Action: Tempfail, Code: 421, Text: "Try again later", Filter: "f"}},
	}
	for _, stage := range dialogStages {
		all := cases
		if stage == "data" {
			all = append(all,
				tc{action: "discard", want: Verdict{Action: Discard, Filter: "f"}},
				tc{action: "quarantine", text: "looks like spam", want: Verdict{Action: Quarantine, Text: "looks like spam", Filter: "f"}})
		}
		for _, c := range all {
			t.Run(fmt.Sprintf("%s/%s/%d", stage, c.action, c.code), func(t *testing.T) {
				h := newTestHost(t, behave(t, "f", v{"verdicts": v{stage: v{"action": c.action, "code": c.code, "enhanced": c.enhanced, "text": c.text}}}, nil))
				ch := h.chain(t, "f")
				for _, other := range dialogStages { // the other stages still continue
					got, _ := runStage(t, ch, other)
					want := Verdict{Action: Continue}
					if other == stage {
						want = c.want
					}
					if got != want {
						t.Errorf("%s: got %+v, want %+v", other, got, want)
					}
				}
			})
		}
	}
}

func TestEventFieldsReachThePlugin(t *testing.T) {
	h := newTestHost(t)
	_ = h
	base := "ip=192.0.2.7 port=4321 listener=mx/smtp tls=true helo=client.example ext=true user=alice"
	want := map[string]string{
		"connect": "stage=connect " + base,
		"helo":    "stage=helo " + base,
		"auth":    "stage=auth " + base + " mech=PLAIN user=alice ok=true",
		"mail":    "stage=mail " + base + " from=bob@example.org params=map[BODY:8BITMIME]",
		"rcpt":    "stage=rcpt " + base + " rcpt=dave@example.com n=2",
		"data":    "stage=data " + base + fmt.Sprintf(" from=bob@example.org rcpts=2 size=%d subject=hello", len(simpleMsg)),
	}
	for _, stage := range dialogStages {
		th := newTestHost(t, behave(t, "echo", v{"mode": "echo", "mode_stage": stage}, nil))
		got, _ := runStage(t, th.chain(t, "echo"), stage)
		if got.Action != Tempfail || got.Text != want[stage] {
			t.Errorf("%s: got %+v\nwant text %q", stage, got, want[stage])
		}
	}
}

func TestChainOrder(t *testing.T) {
	h := newTestHost(t,
		behave(t, "accepts-mail", v{"verdicts": v{"mail": v{"action": "accept"}}}, nil),
		behave(t, "rejects-all", v{"verdicts": v{"mail": v{"action": "reject"}, "rcpt": v{"action": "reject", "code": 550, "enhanced": "5.1.1", "text": "No such user"}}}, nil),
		behave(t, "tags", v{"changes": []v{{"op": "add", "name": "X-A", "value": "1"}}}, nil),
		behave(t, "tags-too", v{"changes": []v{{"op": "add", "name": "X-B", "value": "2"}}, "verdicts": v{"mail": v{"action": "tempfail"}}},
			func(f *FilterSpec) { f.Stages = []string{"data"} }),
	)
	ctx := context.Background()
	// accept stops the chain for the stage: rejects-all is not consulted.
	if got := h.chain(t, "accepts-mail", "rejects-all").Mail(ctx, testTxn()); got.Action != Accept || got.Filter != "accepts-mail" {
		t.Errorf("mail: %+v", got)
	}
	// first non-continue wins.
	if got := h.chain(t, "accepts-mail", "rejects-all").Rcpt(ctx, testTxn(), Recipient{Addr: "x@example.com"}); got.Action != Reject || got.Filter != "rejects-all" || got.Text != "No such user" {
		t.Errorf("rcpt: %+v", got)
	}
	// a filter configured for data only is skipped at mail even though it would tempfail.
	if got := h.chain(t, "tags-too").Mail(ctx, testTxn()); got.Action != Continue {
		t.Errorf("stage-gated mail: %+v", got)
	}
	// changes merge in chain order.
	got, ch := h.chain(t, "tags", "tags-too").Data(ctx, testTxn(), testMessage(t, simpleMsg))
	if got.Action != Continue || len(ch.Headers) != 2 || ch.Headers[0].Name != "X-A" || ch.Headers[1].Name != "X-B" {
		t.Errorf("data: %+v %+v", got, ch)
	}
	// empty chains are cheap no-ops.
	var nilChain *Chain
	if !nilChain.Empty() || nilChain.Mail(ctx, testTxn()).Action != Continue {
		t.Error("nil chain is not an empty no-op")
	}
	if _, err := h.Chain([]string{"nope"}); err == nil {
		t.Error("unknown filter name accepted")
	}
}

// TestFailurePolicy covers every way a plugin can fail and the on_error policies.
func TestFailurePolicy(t *testing.T) {
	tempfail := func(reason string) Verdict {
		return Verdict{Action: Tempfail, Code: 451, Enhanced: "4.3.0", Text: "Temporary local problem, try again later", Filter: "f", Reason: reason}
	}
	tests := []struct {
		name   string
		conf   v
		mod    func(*FilterSpec)
		stage  string
		reason string   // substring of Verdict.Reason
		want   *Verdict // nil: the default tempfail
	}{
		{name: "infinite loop", conf: v{"mode": "loop"}, mod: func(f *FilterSpec) { f.Timeout = 300 * time.Millisecond }, reason: "timeout: no answer within 300ms"},
		// The sleep is cut short by the interrupt; sleeping in steps of the
		// timeout instead took ~20 steps (over 20 s) to reach a check.
		{name: "sleep past the timeout", conf: v{"mode": "sleep"}, mod: func(f *FilterSpec) { f.Timeout = 2 * time.Second }, reason: "timeout: no answer within 2s"},
		{name: "memory growth past the cap", conf: v{"mode": "grow"}, mod: func(f *FilterSpec) { f.MemoryBytes = 32 << 20 }, reason: "out of memory"},
		{name: "panic", conf: v{"mode": "panic"}, reason: "trap"},
		{name: "proc_exit", conf: v{"mode": "exit"}, reason: "proc_exit 3"},
		{name: "reject with 2xx", conf: v{"verdicts": v{"data": v{"action": "reject", "code": 250}}}, reason: "reply code 250"},
		{name: "tempfail with 5xx", conf: v{"verdicts": v{"mail": v{"action": "tempfail", "code": 550}}}, stage: "mail", reason: "want 4xx"},
		{name: "enhanced class mismatch", conf: v{"verdicts": v{"data": v{"action": "reject", "code": 550, "enhanced": "4.7.1"}}}, reason: "does not match"},
		{name: "malformed enhanced", conf: v{"verdicts": v{"data": v{"action": "reject", "code": 550, "enhanced": "5.x"}}}, reason: "does not match"},
		{name: "text with CRLF", conf: v{"verdicts": v{"rcpt": v{"action": "reject", "code": 550, "text": "bye\r\n250 OK"}}}, stage: "rcpt", reason: "reply text"},
		{name: "text too long", conf: v{"verdicts": v{"data": v{"action": "reject", "code": 550, "text": strings.Repeat("a", 513)}}}, reason: "exceeds 512"},
		{name: "unknown action", conf: v{"verdicts": v{"data": v{"action": "bounce"}}}, reason: "unknown action"},
		{name: "discard outside data", conf: v{"verdicts": v{"mail": v{"action": "discard"}}}, stage: "mail", reason: "only valid at the data stage"},
		{name: "code on continue", conf: v{"verdicts": v{"data": v{"action": "continue", "code": 250}}}, reason: "takes no reply code"},
		{name: "add Received", conf: v{"changes": []v{{"op": "add", "name": "Received", "value": "from evil"}}}, reason: "trace"},
		{name: "remove Received", conf: v{"changes": []v{{"op": "remove", "name": "received"}}}, reason: "trace"},
		{name: "set Return-Path", conf: v{"changes": []v{{"op": "set", "name": "Return-Path", "value": "<x@y.z>"}}}, reason: "trace"},
		{name: "add Resent-From", conf: v{"changes": []v{{"op": "add", "name": "Resent-From", "value": "x@y.z"}}}, reason: "trace"},
		{name: "header value with CRLF", conf: v{"changes": []v{{"op": "add", "name": "X-Tag", "value": "a\r\nBcc: evil@example.com"}}}, reason: "folding"},
		{name: "header name with colon", conf: v{"changes": []v{{"op": "add", "name": "X:Y", "value": "a"}}}, reason: "invalid character"},
		{name: "invalid added recipient", conf: v{"changes": []v{{"op": "add_rcpt", "value": "not an address"}}}, reason: "add recipient"},
		{name: "removing a stranger", conf: v{"changes": []v{{"op": "remove_rcpt", "value": "mallory@example.com"}}}, reason: "not a recipient"},
		{name: "bad route", conf: v{"changes": []v{{"op": "reroute", "name": "alice@example.com", "value": "../etc"}}}, reason: "invalid route"},
		{name: "missing part", conf: v{"changes": []v{{"op": "part", "path": "3.1", "type": "text/plain", "value": "x"}}}, reason: "no such part"},
		{name: "part charset the host cannot write", conf: v{"changes": []v{{"op": "part", "path": "1", "type": "text/plain; charset=iso-8859-1", "value": "x"}}}, reason: "give the content in UTF-8"},
		{name: "invalid sender", conf: v{"changes": []v{{"op": "sender", "value": "a@"}}}, reason: "sender"},
		{name: "too many added recipients", conf: v{"changes": manyChanges("add_rcpt", 1001)}, reason: "add_recipients: 1001 entries (at most 1000)"},
		{name: "too many removed recipients", conf: v{"changes": manyChanges("remove_rcpt", 1001)}, reason: "remove_recipients: 1001 entries (at most 1000)"},
		{name: "on_error continue", conf: v{"mode": "panic"}, mod: func(f *FilterSpec) { f.OnError = "continue" },
			want: &Verdict{Action: Continue}}, // the chain goes on; the reason is only logged
		{name: "on_error reject", conf: v{"mode": "panic"}, mod: func(f *FilterSpec) { f.OnError = "reject" }, reason: "trap",
			want: &Verdict{Action: Reject, Code: 550, Enhanced: "5.7.1", Text: "Rejected by policy", Filter: "f"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHost(t, behave(t, "f", tt.conf, tt.mod))
			c := h.chain(t, "f")
			stage := tt.stage
			if stage == "" {
				stage = "data"
			}
			start := time.Now()
			got, ch := runStage(t, c, stage)
			// Not a speed target: a stuck guest must be stopped, and a
			// loaded CI machine still answers within seconds.
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("the failing call took %s", d)
			}
			if !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("reason %q does not mention %q", got.Reason, tt.reason)
			}
			want := tempfail("")
			if tt.want != nil {
				want = *tt.want
			}
			want.Reason = got.Reason
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if !ch.Empty() {
				t.Errorf("a failed filter's changes were kept: %+v", ch)
			}
			if !strings.Contains(h.logs.String(), "applying on_error") {
				t.Errorf("failure not logged:\n%s", h.logs)
			}
			// The broken instance was discarded: the next call gets a fresh one and works.
			if got := c.Helo(context.Background(), testSession()); got.Action != Continue {
				t.Errorf("next call after failure: %+v", got)
			}
		})
	}
}

func TestHandmadeModules(t *testing.T) {
	ctx := context.Background()
	newHost := func(hm handmade, stages ...string) (*Host, error) {
		return NewHost(ctx, []FilterSpec{{Name: "hm", Wasm: hm.file(t), Stages: stages}}, HostOptions{})
	}
	if _, err := newHost(handmade{version: 99, stages: 1}); err == nil ||
		!strings.Contains(err.Error(), `filter "hm"`) || !strings.Contains(err.Error(), "ABI version 99") || !strings.Contains(err.Error(), "supports version 1") {
		t.Errorf("unknown ABI version: %v", err)
	}
	if _, err := newHost(handmade{version: 1, stages: 1}, "data"); err == nil || !strings.Contains(err.Error(), `stage "data" is configured but the plugin does not handle it (it handles: connect)`) {
		t.Errorf("undeclared stage: %v", err)
	}
	if _, err := newHost(handmade{version: 1, stages: 1}, "dta"); err == nil || !strings.Contains(err.Error(), `unknown stage "dta"`) {
		t.Errorf("unknown stage: %v", err)
	}
	if _, err := newHost(handmade{version: 1, stages: 1, exportStart: true}); err == nil ||
		!strings.Contains(err.Error(), `filter "hm"`) || !strings.Contains(err.Error(), "exports _start: a WASI command") {
		t.Errorf("command module: %v", err)
	}
	if _, err := newHost(handmade{version: 1, stages: 1, encoding: 7}); err == nil || !strings.Contains(err.Error(), "sluice_event_encoding returned 7") {
		t.Errorf("unknown event encoding: %v", err)
	}
	if h, err := newHost(handmade{version: 1, stages: 1, encoding: 1}); err != nil || !h.filters["hm"].packed {
		t.Errorf("packed events asked for: %v", err)
	} else {
		h.Close(ctx)
	}
	if _, err := NewHost(ctx, []FilterSpec{{Name: "junk", Wasm: writeTemp(t, "not wasm")}}, HostOptions{}); err == nil || !strings.Contains(err.Error(), `filter "junk"`) {
		t.Errorf("junk module: %v", err)
	}
	if _, err := NewHost(ctx, []FilterSpec{{Name: "sizes", Wasm: writeTemp(t, hostileSizes)}}, HostOptions{}); err == nil ||
		!strings.Contains(err.Error(), `filter "sizes"`) || !strings.Contains(err.Error(), "section 4: declares") {
		t.Errorf("module declaring more than it holds: %v", err)
	}
	for _, tt := range []struct {
		name   string
		hm     handmade
		reason string
	}{
		{"garbage result", handmade{version: 1, stages: 1, out: []byte("not json")}, "malformed result"},
		{"trailing data", handmade{version: 1, stages: 1, out: []byte(`{"action":"continue"} {}`)}, "trailing data"},
		{"unknown field", handmade{version: 1, stages: 1, out: []byte(`{"action":"continue","verdict":"ok"}`)}, "unknown field"},
		{"result outside memory", handmade{version: 1, stages: 1, resultPtr: 65000, resultLen: 1000}, "outside guest memory"},
		{"huge result", handmade{version: 1, stages: 1, resultPtr: 1, resultLen: 1 << 30}, "exceeds"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := newHost(tt.hm)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(ctx)
			c, _ := h.Chain([]string{"hm"})
			got := c.Connect(ctx, testSession())
			if got.Action != Tempfail || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("got %+v, want tempfail mentioning %q", got, tt.reason)
			}
		})
	}
	// A well-behaved handmade module (no Go runtime, no WASI) works too.
	h, err := newHost(handmade{version: 1, stages: 1, out: []byte(`{"action":"reject","code":554,"text":"handmade"}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	c, _ := h.Chain([]string{"hm"})
	if got := c.Connect(ctx, testSession()); got.Action != Reject || got.Code != 554 || got.Text != "handmade" {
		t.Errorf("handmade reject: %+v", got)
	}
}

// manyChanges is n changes of one recipient operation for the behave plugin.
func manyChanges(op string, n int) []v {
	out := make([]v, n)
	for i := range out {
		switch op {
		case "add_rcpt":
			out[i] = v{"op": op, "value": fmt.Sprintf("r%d@example.com", i)}
		default:
			out[i] = v{"op": op, "value": "alice@example.com"}
		}
	}
	return out
}

// TestInitFailures: a module whose _initialize or start function (its
// start section) traps or never returns is refused at load with the filter
// named and the reason; a loop is stopped at the initialisation limit
// instead of holding sluice's start, a reload or a session for ever.
func TestInitFailures(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		hm   handmade
		want string
	}{
		{"_initialize traps", handmade{version: 1, stages: 1, initBody: bodyTrap}, "_initialize: trap: wasm error: unreachable"},
		{"_initialize loops", handmade{version: 1, stages: 1, initBody: bodyLoop}, "_initialize: timeout: no answer within 10s"},
		{"start function traps", handmade{version: 1, stages: 1, startBody: bodyTrap}, "start function: trap: wasm error: unreachable"},
		{"start function loops", handmade{version: 1, stages: 1, startBody: bodyLoop}, "start function: timeout: no answer within 10s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := tt.hm.file(t)
			done := make(chan error, 1)
			go func() {
				h, err := NewHost(ctx, []FilterSpec{{Name: "hm", Wasm: file}}, HostOptions{})
				if err == nil {
					h.Close(ctx)
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), `filter "hm"`) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("NewHost: %v, want an error naming the filter and %q", err, tt.want)
				}
			case <-time.After(2 * time.Minute): // bounds a hang, far above the 10 s limit
				t.Fatal("loading the module never returned")
			}
		})
	}
}

func writeTemp(t testing.TB, content string) string {
	t.Helper()
	p := t.TempDir() + "/x.wasm"
	if err := osWriteFile(p, []byte(content)); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLogFlood(t *testing.T) {
	h := newTestHost(t, behave(t, "flood", v{"mode": "flood"}, nil))
	got, _ := runStage(t, h.chain(t, "flood"), "data")
	if got.Action != Continue {
		t.Fatalf("flood verdict: %+v", got)
	}
	f := h.filters["flood"]
	if f.logs.dropped.Load() == 0 {
		t.Error("no line was dropped")
	}
	logs := h.logs.String()
	// 20000 lines of ~120 bytes and one 1 MiB line were written: only a
	// small fraction may get through, and no line longer than the cap.
	lines := strings.Count(logs, "flood line")
	if lines > 2000 || f.logs.dropped.Load() < 18000 {
		t.Errorf("%d flood lines logged, %d dropped", lines, f.logs.dropped.Load())
	}
	for _, l := range strings.Split(logs, "\n") {
		if len(l) > 2048 {
			t.Errorf("a log line of %d bytes got through", len(l))
		}
	}
	// The drop count is reported once the plugin may log again.
	f.logs.mu.Lock()
	f.logs.tokens = f.logs.burst
	f.logs.mu.Unlock()
	f.logs.emit(2, "stdout", "after")
	if !strings.Contains(h.logs.String(), "dropped") {
		t.Error("drop count not reported")
	}
}

func TestSandbox(t *testing.T) {
	h := newTestHost(t, behave(t, "sb", v{"mode": "sandbox"}, nil))
	got, ch := runStage(t, h.chain(t, "sb"), "data")
	if got.Action != Continue || ch.Empty() {
		t.Fatalf("verdict %+v changes %+v", got, ch)
	}
	hdr := map[string]string{}
	for _, c := range ch.Headers {
		hdr[c.Name] = c.Value
	}
	for _, k := range []string{"X-Open", "X-Create", "X-Dial"} {
		if !strings.HasPrefix(hdr[k], "error: ") {
			t.Errorf("%s = %q: the sandbox let it through", k, hdr[k])
		}
	}
	if hdr["X-Env"] != "0" {
		t.Errorf("environment leaked: %s variables", hdr["X-Env"])
	}
	if hdr["X-Year"] < "2025" {
		t.Errorf("clock is fake: year %s", hdr["X-Year"])
	}
}

func TestBodyAndParts(t *testing.T) {
	h := newTestHost(t, behave(t, "body", v{"mode": "body"}, nil))
	m := testMessage(t, multipartMsg)
	txn := testTxn()
	txn.MailParams["SMTPUTF8"] = "" // the plugin echoes "café" in a header
	_, ch := h.chain(t, "body").Data(context.Background(), txn, m)
	var got []string
	for _, c := range ch.Headers {
		got = append(got, c.Name+": "+c.Value)
	}
	body := multipartMsg[m.BodyOffset:]
	want := []string{
		fmt.Sprintf("X-Body: %d %s <nil>", len(body), sha256hex(body)),
		`X-Part: 1.1 text/plain "café plain" <nil>`,
		`X-Part: 1.2 text/html "<p>html</p>" <nil>`,
		"X-Part: 2 application/octet-stream \"MZ\\x90\\x00\\x03\\x00\\x00\\x00\\x04\\x00\\x00\\x00\\xff\\xff\\x00\\x00\\xb8\\x00\\x00\\x00\\x00\" <nil>",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestKVPersists(t *testing.T) {
	conf := behave(t, "counter", v{"mode": "kv"}, nil)
	h := newTestHost(t, conf)
	for want := 1; want <= 2; want++ {
		_, ch := runStage(t, h.chain(t, "counter"), "data")
		if ch == nil || len(ch.Headers) != 2 || ch.Headers[0].Value != fmt.Sprint(want) || ch.Headers[1].Value != "ok" {
			t.Fatalf("call %d: %+v", want, ch)
		}
	}
	h.Close(context.Background())
	h2, err := NewHost(context.Background(), []FilterSpec{conf}, HostOptions{DataDir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close(context.Background())
	c, _ := h2.Chain([]string{"counter"})
	if _, ch := c.Data(context.Background(), testTxn(), testMessage(t, simpleMsg)); ch.Headers[0].Value != "3" {
		t.Errorf("after restart: %+v", ch.Headers)
	}
}

func TestGrants(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "pong")
	}))
	defer srv.Close()
	h := newTestHost(t,
		behave(t, "dns-denied", v{"mode": "dns"}, nil),
		behave(t, "http-denied", v{"mode": "http"}, nil),
		behave(t, "http-granted", v{"mode": "http"}, func(f *FilterSpec) { f.Grants = []string{"http"}; f.HTTPEndpoint = srv.URL }),
		behave(t, "dns-resolver", v{"mode": "dns", "dns_name": "stub.test"}, func(f *FilterSpec) { f.Grants = []string{"dns"}; f.Resolver = stubDNS(t) }),
	)
	for name, want := range map[string]string{
		"dns-resolver": "[192.0.2.53] <nil>",
		"dns-denied":   "[] sluice: capability not granted",
		"http-denied":  "sluice: capability not granted",
		"http-granted": "200 pong",
	} {
		got, ch := runStage(t, h.chain(t, name), "data")
		if got.Action != Continue || ch == nil || ch.Headers[0].Value != want {
			t.Errorf("%s: %+v %+v, want header %q", name, got, ch, want)
		}
	}
	if _, err := NewHost(context.Background(), []FilterSpec{behave(t, "x", v{}, func(f *FilterSpec) { f.Grants = []string{"fs"} })}, HostOptions{}); err == nil {
		t.Error("unknown grant accepted")
	}
}

// stubDNS serves A 192.0.2.53 for stub.test on a loopback UDP port: the
// filter's resolver setting must send the dns grant's lookups there.
func stubDNS(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Qtype == dns.TypeA && q.Question[0].Name == "stub.test." {
			rr, _ := dns.NewRR("stub.test. 60 IN A 192.0.2.53")
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestHammer calls one chain from many goroutines; run it with -race.
func TestHammer(t *testing.T) {
	logs := &logBuffer{}
	dir := t.TempDir()
	shareCompilationCache(t, dir)
	h, err := NewHost(context.Background(), []FilterSpec{
		behave(t, "a", v{"changes": []v{{"op": "add", "name": "X-A", "value": "1"}}}, nil),
		behave(t, "b", v{"verdicts": v{"rcpt": v{"action": "reject", "code": 550}}}, nil),
	}, HostOptions{DataDir: dir, MaxInstances: 3, Logger: hclog.New(&hclog.LoggerOptions{Output: logs})})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	c, _ := h.Chain([]string{"a", "b"})
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for g := 0; g < 12; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if v := c.Mail(context.Background(), testTxn()); v.Action != Continue {
					errs <- fmt.Sprintf("mail %+v", v)
				}
				if v := c.Rcpt(context.Background(), testTxn(), Recipient{Addr: "x@example.com"}); v.Action != Reject || v.Filter != "b" {
					errs <- fmt.Sprintf("rcpt %+v", v)
				}
				if v, ch := c.Data(context.Background(), testTxn(), testMessage(t, simpleMsg)); v.Action != Continue || len(ch.Headers) != 1 {
					errs <- fmt.Sprintf("data %+v %+v", v, ch)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for _, f := range h.order {
		if n := len(f.live); n > 3 {
			t.Errorf("%s: %d live instances, cap 3", f.name, n)
		}
	}
}

// TestLogDropsReportedWhenSilent: a plugin that floods within one call and
// then never logs again still has its dropped lines counted in the log
// (the rate limit let them be reported only with its next line), and the
// report itself is rate-limited.
func TestLogDropsReportedWhenSilent(t *testing.T) {
	logs := &logBuffer{}
	s := newLogSink(hclog.New(&hclog.LoggerOptions{Output: logs}))
	now := time.Unix(1e9, 0)
	s.now, s.last = func() time.Time { return now }, now
	for i := range 300 {
		s.emit(2, "stdout", fmt.Sprint("line ", i))
	}
	s.flush()
	if got := strings.Count(logs.String(), "dropped=100"); got != 1 {
		t.Fatalf("%d reports of 100 dropped lines, want 1:\n%s", got, logs)
	}
	for range 50 {
		s.emit(2, "stdout", "more")
		s.flush()
	}
	if got := strings.Count(logs.String(), "dropped by the rate limit"); got != 1 {
		t.Errorf("%d drop reports within one second, want 1", got)
	}
	now = now.Add(time.Second)
	s.flush()
	if !strings.Contains(logs.String(), "dropped=50") {
		t.Errorf("the next second's report is missing:\n%.500s", logs.String()[max(0, len(logs.String())-500):])
	}
}
