package plugin

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/sdk/abi"
)

// pass is the minimal pass-through plugin, for benchmarks.
func pass(b *testing.B, name string) FilterSpec {
	return FilterSpec{Name: name, Wasm: wasmtest.Build(b, "plugin/testdata/pass")}
}

func msg4K() string {
	line := strings.Repeat("lorem ipsum dolor sit amet ", 2) + "\r\n"
	return simpleMsg + strings.Repeat(line, 4096/len(line))
}

// BenchmarkHookWarm: one mail-stage call on a warm pooled instance,
// including event encoding and result validation.
func BenchmarkHookWarm(b *testing.B) {
	h := newTestHost(b, pass(b, "pass"))
	c := h.chain(b, "pass")
	ctx, txn := context.Background(), testTxn()
	b.ReportAllocs()
	for b.Loop() {
		if c.Mail(ctx, txn).Action != Continue {
			b.Fatal("not continue")
		}
	}
}

// BenchmarkChain3Data4KB: three pass-through filters at the data stage of a 4 KB message.
func BenchmarkChain3Data4KB(b *testing.B) {
	h := newTestHost(b, pass(b, "p1"), pass(b, "p2"), pass(b, "p3"))
	c := h.chain(b, "p1", "p2", "p3")
	raw := msg4K()
	m := testMessage(b, raw)
	ctx, txn := context.Background(), testTxn()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := c.Data(ctx, txn, m); v.Action != Continue {
			b.Fatal("not continue")
		}
	}
}

// BenchmarkInstanceFresh vs BenchmarkInstancePooled: the choice recorded in RATIONALE.md.
func BenchmarkInstanceFresh(b *testing.B) {
	h := newTestHost(b, pass(b, "pass"))
	f := h.filters["pass"]
	ev := benchEvent(b)
	ctx := context.WithValue(context.Background(), stateKey{}, &callState{f: f})
	b.ReportAllocs()
	for b.Loop() {
		inst, err := f.instantiate(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := inst.run(ctx, ev); err != nil {
			b.Fatal(err)
		}
		inst.mod.Close(ctx)
	}
}

func BenchmarkInstancePooled(b *testing.B) {
	h := newTestHost(b, pass(b, "pass"))
	f := h.filters["pass"]
	ev := benchEvent(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.call(ctx, &callState{f: f}, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPooledParallel: many goroutines sharing one filter's pool.
func BenchmarkPooledParallel(b *testing.B) {
	h := newTestHost(b, pass(b, "pass"))
	c := h.chain(b, "pass")
	b.RunParallel(func(pb *testing.PB) {
		ctx, txn := context.Background(), testTxn()
		for pb.Next() {
			c.Mail(ctx, txn)
		}
	})
}

func benchEvent(b *testing.B) []byte {
	txn := testTxn()
	ev := txnEvent(txn)
	ev.ABI, ev.Stage, ev.Filter = abi.Version, abi.StageMail, "pass"
	out, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	return out
}
