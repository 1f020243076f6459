package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// The Go SDK's per-event cost inside the guest (see RATIONALE.md, "Go SDK
// guest cost"). All use the pass-through plugin testdata/pass on a warm
// pooled instance; the data stage uses a 4 KB message with 20 header fields.
//
//	go test ./plugin -run '^$' -bench 'SDK' -benchtime 2s -count 3
//
// SDKBENCH_PASS_WASM=old.wasm runs them with another build of the pass
// plugin instead (e.g. one built with an older SDK), to compare in one session.

// msg4K20H is a 4 KB message with 20 header fields.
func msg4K20H() string {
	var b strings.Builder
	b.WriteString("Received: from mx.example.org (mx.example.org [192.0.2.9]) by relay.example.com; Mon, 1 Jan 2024 00:00:00 +0000\r\n")
	b.WriteString("From: Bob Example <bob@example.org>\r\nTo: Alice <alice@example.com>\r\nCc: carol@example.com\r\n")
	b.WriteString("Subject: =?utf-8?q?a_quarterly_report_=E2=80=94_please_read?=\r\n")
	b.WriteString("Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <20240101000000.12345@example.org>\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
	b.WriteString("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from:to:subject:date;\r\n\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==\r\n")
	for i := 11; i < 19; i++ { // 11 fields above, 8 here, 1 below
		fmt.Fprintf(&b, "X-Extra-%d: value number %d with some words in it\r\n", i, i)
	}
	b.WriteString("List-Unsubscribe: <mailto:unsubscribe@example.org>\r\n\r\n")
	line := strings.Repeat("lorem ipsum dolor sit amet ", 2) + "\r\n"
	for b.Len() < 4096 {
		b.WriteString(line)
	}
	return b.String()
}

// wireMessage is the message part of a data event, as Chain.Data builds it.
func wireMessage(t testing.TB, m *Message) *abi.Message {
	header := make([]rawField, len(m.Header))
	wm := &abi.Message{Size: m.Size, BodySize: m.BodySize, Header: make([]abi.HeaderField, len(m.Header))}
	for i, f := range m.Header {
		header[i] = rawField{name: f.Name, raw: []byte(f.Name + ": " + f.Value + "\r\n")}
		wm.Header[i] = abi.HeaderField{Name: f.Name, Value: f.Value}
	}
	parts, err := scanParts(m.Body, header, m.BodyOffset, m.BodyOffset+m.BodySize)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		wm.Parts = append(wm.Parts, p.Part)
	}
	return wm
}

// sdkPass is the pass-through filter of these benchmarks.
func sdkPass(b *testing.B, name string) FilterSpec {
	if w := os.Getenv("SDKBENCH_PASS_WASM"); w != "" {
		return FilterSpec{Name: name, Wasm: w}
	}
	return pass(b, name)
}

func sdkEvent(b *testing.B, stage string) []byte {
	ev := txnEvent(testTxn())
	ev.ABI, ev.Stage, ev.Filter = abi.Version, stage, "pass"
	if stage == abi.StageData {
		ev.Message = wireMessage(b, testMessage(b, msg4K20H()))
		if n := len(ev.Message.Header); n != 20 {
			b.Fatalf("%d header fields, want 20", n)
		}
	}
	out, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// benchGuest: one pre-encoded event through a warm instance, no host-side
// encoding or validation: the guest's decode, handler, encode plus the call.
func benchGuest(b *testing.B, stage string) {
	h := newTestHost(b, sdkPass(b, "pass"))
	f := h.filters["pass"]
	ev := sdkEvent(b, stage)
	ctx := context.Background()
	st := &callState{f: f}
	if stage == abi.StageData {
		st.msg = testMessage(b, msg4K20H())
	}
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := f.call(ctx, st, ev)
		if err != nil || string(out) != `{"action":"continue"}` {
			b.Fatalf("%s %v", out, err)
		}
	}
}

func BenchmarkSDKGuestMail(b *testing.B)    { benchGuest(b, abi.StageMail) }
func BenchmarkSDKGuestData4KB(b *testing.B) { benchGuest(b, abi.StageData) }

// BenchmarkSDKBareExport is the floor: sluice_stages on a warm instance.
func BenchmarkSDKBareExport(b *testing.B) {
	h := newTestHost(b, sdkPass(b, "pass"))
	f := h.filters["pass"]
	ctx := context.Background()
	inst, err := f.get(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer f.put(inst)
	fn := inst.mod.ExportedFunction(abi.ExportStages)
	stack := []uint64{0}
	for b.Loop() {
		if err := fn.CallWithStack(ctx, stack); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSDKHookMail / BenchmarkSDKHookData4KB: one filter through the
// Chain, host encoding and result validation included.
func BenchmarkSDKHookMail(b *testing.B) {
	h := newTestHost(b, sdkPass(b, "pass"))
	c := h.chain(b, "pass")
	ctx, txn := context.Background(), testTxn()
	b.ReportAllocs()
	for b.Loop() {
		if c.Mail(ctx, txn).Action != Continue {
			b.Fatal("not continue")
		}
	}
}

func benchChainData(b *testing.B, names ...string) {
	var fs []FilterSpec
	for _, n := range names {
		fs = append(fs, sdkPass(b, n))
	}
	c := newTestHost(b, fs...).chain(b, names...)
	raw := msg4K20H()
	m := testMessage(b, raw)
	ctx, txn := context.Background(), testTxn()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := c.Data(ctx, txn, m); v.Action != Continue {
			b.Fatal("not continue", v.Reason)
		}
	}
}

func BenchmarkSDKHookData4KB(b *testing.B) { benchChainData(b, "p1") }

// BenchmarkSDKChain3Data4KB: three pass-through filters, 4 KB message, 20 header fields.
func BenchmarkSDKChain3Data4KB(b *testing.B) { benchChainData(b, "p1", "p2", "p3") }
