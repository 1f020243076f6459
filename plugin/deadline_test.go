package plugin

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// TestDeadlineHolds: whatever a guest loops on (bulk memory operations,
// WASI calls, costly host calls), its call ends with the filter's timeout
// policy, a garbage collection of the host does not wait for it, and no
// costly host call starts after the deadline.
//
// Without the bulk rewrite, the host functions' deadline check and the
// instance's WASI guards, the WAT guests ran 8,192 rounds between two
// checks: wat-random 6m54s, wat-signloop (RSA-4096) 72 s, wat-kvloop 3.1 s
// (2.6 s of KV writes after the deadline), wat-fill ~40 s with every
// collection waiting for each fill.
func TestDeadlineHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("generates an RSA-4096 key")
	}
	key, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	signKey := SigningKey{Name: "example.org/big", Path: writeKey(t, key, false)}
	const timeout = 500 * time.Millisecond
	// Slack for a loaded CI machine; the failures above overran by 4-50 s
	// for 8,192 rounds and by minutes for random.
	const slack = 15 * time.Second
	// Go guests (plugin/testdata/behave) return into Go often whatever
	// they do; the WAT guests (hostileLoop) pass one check a round, as an
	// attacker's would, so they are the ones the fixes are measured by.
	modes := []string{"fill", "copy", "random", "signloop", "kvloop", "wat-fill", "wat-random", "wat-signloop", "wat-kvloop"}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			grant := func(f *FilterSpec) {
				f.Timeout = timeout
				f.MemoryBytes = 128 << 20
				if strings.HasSuffix(mode, "signloop") {
					f.Grants, f.SigningKeys = []string{"sign"}, []SigningKey{signKey}
				}
			}
			var fc FilterSpec
			if wat, ok := strings.CutPrefix(mode, "wat-"); ok {
				fc = FilterSpec{Name: "f", Wasm: hostileLoop(wat, signKey.Name).file(t)}
			} else {
				fc = behave(t, "f", v{"mode": mode, "sign_key": signKey.Name, "sign_data": make([]byte, 32)}, nil)
			}
			grant(&fc)
			h := newTestHost(t, fc)
			c := h.chain(t, "f")
			type result struct {
				v       Verdict
				elapsed time.Duration
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				v, _ := c.Data(context.Background(), testTxn(), testMessage(t, simpleMsg))
				done <- result{v, time.Since(start)}
			}()
			// A bystander: the collection stops every goroutine, so it
			// waits for a guest that never returns into Go.
			time.Sleep(timeout / 5)
			gcStart := time.Now()
			runtime.GC()
			if d := time.Since(gcStart); d > slack {
				t.Errorf("a garbage collection waited %s for the guest", d)
			}
			r := <-done
			if !strings.Contains(r.v.Reason, "timeout") || r.v.Action != Tempfail {
				t.Errorf("verdict %+v, want the timeout's tempfail", r.v)
			}
			if r.elapsed > timeout+slack {
				t.Errorf("the call ran %s with a %s timeout", r.elapsed, timeout)
			}
			if strings.HasSuffix(mode, "signloop") || strings.HasSuffix(mode, "kvloop") {
				kv, err := OpenKV(h.dir, "f")
				if err != nil {
					t.Fatal(err)
				}
				b, err := kv.Get("last")
				if err != nil {
					t.Fatalf("the loop never stored its time: %v", err)
				}
				ns, _ := strconv.ParseInt(string(b), 10, 64)
				if len(b) == 8 { // a WAT guest stores the clock's bytes
					ns = int64(binary.LittleEndian.Uint64(b))
				}
				// The last round started before the deadline; what it did
				// after took at most one sign and one KV write.
				if after := time.Unix(0, ns).Sub(start.Add(timeout)); after > 2*time.Second {
					t.Errorf("host calls went on %s after the deadline", after)
				}
			}
		})
	}
}

// hostileLoop is a handmade module whose data event never returns: each
// round of its loop does one costly thing, passing one interrupt check.
//
//	fill:     memory.fill of 64 MiB
//	random:   WASI random_get of 16 MiB
//	kvloop:   the WASI clock's time into the KV key "last"
//	signloop: the same, then a signature with key
func hostileLoop(what, key string) handmade {
	const (
		nameAt  = 2048 // key, then "last": the data segment
		dataAt  = 4096 // 32 zero bytes to sign
		clockAt = 4160 // the clock's 8 bytes
		outAt   = 8192 // the signature, up to 4096 bytes
	)
	i32 := func(v int64) []byte { return append([]byte{0x41}, sleb(v)...) }
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	const clock, kvPut, sign, random = 0, 1, 2, 3                // the imports, in order
	call := func(f byte) []byte { return []byte{0x10, f, 0x1a} } // call, drop
	var round []byte
	pages := uint32(1)
	switch what {
	case "fill":
		round, pages = cat(i32(0), i32(0), i32(64<<20), []byte{0xfc, 0x0b, 0}), 1025
	case "random":
		round, pages = cat(i32(65536), i32(16<<20), call(random)), 300
	case "kvloop", "signloop":
		round = cat(i32(0), []byte{0x42, 0}, i32(clockAt), call(clock),
			i32(nameAt+int64(len(key))), i32(4), i32(clockAt), i32(8), call(kvPut))
		if what == "signloop" {
			round = cat(round, i32(nameAt), i32(int64(len(key))), i32(dataAt), i32(32), i32(outAt), i32(4096), call(sign))
		}
	}
	body := cat([]byte{0, 0x03, 0x40}, round, []byte{0x0c, 0, 0x0b, 0x00, 0x0b}) // loop … br 0 end unreachable end
	return handmade{
		version: 1, stages: abi.BitData, out: []byte(key + "last"), eventBody: body, memPages: pages,
		imports: []hmImport{
			{"wasi_snapshot_preview1", "clock_time_get", hmTypeClockGet},
			{abi.Module, "kv_put", hmTypeKVPut},
			{abi.Module, "sign", hmTypeSign},
			{"wasi_snapshot_preview1", "random_get", hmTypeI32I32},
		},
	}
}
