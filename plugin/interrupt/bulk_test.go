package interrupt

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// bulkModule exports each bulk instruction as a function of its three
// operands, over a memory of 5 pages (up to 2,048) and a funcref table of
// 8 entries:
//
//	fill(d, v, n), copy(d, s, n), init(d, s, n) from passive data segment 0,
//	tinit(d, s, n) from passive element segment 0 (functions 0 and 1),
//	tfill(d, _, n) with null, tcopy(d, s, n), isnull(i) i32: table[i] is null,
//	spinfill(): grows memory by 64 MiB, then fills all of it for ever,
//	spincopy(): the same with memory.copy.
func bulkModule() []byte {
	const spinBytes = 64 << 20
	local := func(i byte) []byte { return []byte{0x20, i} }
	ops := func(op ...byte) []byte {
		b := append(local(0), local(1)...)
		b = append(b, local(2)...)
		return append(append(b, op...), opEnd)
	}
	spin := func(op ...byte) []byte {
		b := []byte{0x41}
		b = appendS32(b, spinBytes>>16)
		b = append(b, 0x40, 0, 0x1a, 0x03, 0x40, 0x41, 0, 0x41, 0, 0x41)
		b = appendS32(b, spinBytes-65536)
		return append(append(b, op...), 0x0c, 0, opEnd, opEnd)
	}
	data := []byte("the quick brown fox jumps over the lazy dog")
	return assemble(
		sec(secType, vec([]byte{0x60, 3, 0x7f, 0x7f, 0x7f, 0}, []byte{0x60, 1, 0x7f, 1, 0x7f}, []byte{0x60, 0, 0})...),
		sec(secFunction, vec([]byte{0}, []byte{0}, []byte{0}, []byte{0}, []byte{0}, []byte{0}, []byte{1}, []byte{2}, []byte{2})...),
		sec(secTable, vec([]byte{0x70, 0, 8})...),
		sec(secMemory, vec([]byte{1, 5, 0x80, 0x10})...),
		sec(secExport, vec(export("fill", 0, 0), export("copy", 0, 1), export("init", 0, 2), export("tinit", 0, 3),
			export("tfill", 0, 4), export("tcopy", 0, 5), export("isnull", 0, 6), export("spinfill", 0, 7),
			export("spincopy", 0, 8), export("memory", 2, 0))...),
		sec(secElement, vec([]byte{1, 0, 2, 0, 1})...),
		sec(secDataCnt, 1),
		sec(secCode, vec(
			code(append([]byte{0}, ops(0xfc, subMemoryFill, 0)...)...),
			code(append([]byte{0}, ops(0xfc, subMemoryCopy, 0, 0)...)...),
			code(append([]byte{0}, ops(0xfc, subMemoryInit, 0, 0)...)...),
			code(append([]byte{0}, ops(0xfc, subTableInit, 0, 0)...)...),
			code(0, 0x20, 0, 0xd0, 0x70, 0x20, 2, 0xfc, subTableFill, 0, opEnd),
			code(append([]byte{0}, ops(0xfc, subTableCopy, 0, 0)...)...),
			code(0, 0x20, 0, 0x25, 0, 0xd1, opEnd),
			code(append([]byte{0}, spin(0xfc, subMemoryFill, 0)...)...),
			code(append([]byte{0}, spin(0xfc, subMemoryCopy, 0, 0)...)...),
		)...),
		sec(secData, vec(append([]byte{1, byte(len(data))}, data...))...),
	)
}

// TestBulkSameResults: the helpers leave memory and tables exactly as the
// instructions do, small and chunked, overlapping either way, and trap
// where the instructions trap without writing anything.
func TestBulkSameResults(t *testing.T) {
	wasm, err := Instrument(bulkModule())
	if err != nil {
		t.Fatal(err)
	}
	plain, inst := instantiate(t, bulkModule()), instantiate(t, wasm)
	const size = 5 * 65536
	steps := []struct {
		fn      string
		args    []uint64
		wantErr string
	}{
		{"fill", []uint64{100, 0xab, 10}, ""},
		{"fill", []uint64{1000, 7, 3*Chunk + 123}, ""},
		{"init", []uint64{3000, 4, 20}, ""},
		{"copy", []uint64{3500, 1000, 2*Chunk + 5}, ""}, // overlapping, to a higher address
		{"copy", []uint64{100, 2000, 2*Chunk + 77}, ""}, // overlapping, to a lower address
		{"copy", []uint64{10, 3000, 40}, ""},
		{"copy", []uint64{size - Chunk - 1, 0, Chunk + 1}, ""},       // up to the last byte
		{"fill", []uint64{size - 10, 1, 2 * Chunk}, "out of bounds"}, // past the end: nothing written
		{"copy", []uint64{0, size - 10, 2 * Chunk}, "out of bounds"},
		{"copy", []uint64{size - 10, 0, 2 * Chunk}, "out of bounds"},
		{"fill", []uint64{0xffffffff, 1, Chunk + 1}, "out of bounds"}, // the sum overflows 32 bits
		{"init", []uint64{0, 40, 10}, "out of bounds"},
		{"tinit", []uint64{0, 0, 2}, ""},
		{"tinit", []uint64{5, 0, 2}, ""},
		{"tfill", []uint64{1, 0, 3}, ""},
		{"tcopy", []uint64{3, 4, 3}, ""},
		{"tfill", []uint64{7, 0, 2}, "invalid table access"},
	}
	for _, st := range steps {
		_, errPlain := plain.ExportedFunction(st.fn).Call(context.Background(), st.args...)
		_, errInst := inst.ExportedFunction(st.fn).Call(context.Background(), st.args...)
		for _, err := range []error{errPlain, errInst} {
			if (st.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), st.wantErr)) {
				t.Errorf("%s%v: %v, want error %q", st.fn, st.args, err, st.wantErr)
			}
		}
		a, _ := plain.Memory().Read(0, size)
		b, _ := inst.Memory().Read(0, size)
		if !bytes.Equal(a, b) {
			t.Fatalf("after %s%v the memories differ", st.fn, st.args)
		}
		for i := range uint64(8) {
			if x, y := call(t, plain, "isnull", i), call(t, inst, "isnull", i); x != y {
				t.Fatalf("after %s%v table entry %d: null=%d instrumented, %d plain", st.fn, st.args, i, y, x)
			}
		}
	}
	if a, _ := plain.Memory().Read(3000, 4); string(a) == "\x00\x00\x00\x00" {
		t.Error("the steps wrote nothing where they should have")
	}
}

// TestBulkStops: a guest looping over 64 MiB fills or copies (each one a
// single memmove before the rewrite: 8,192 of them, 40 s, between two
// checks) stops when the host sets the stop global, and a garbage
// collection completes while it runs.
func TestBulkStops(t *testing.T) {
	wasm, err := Instrument(bulkModule())
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"spinfill", "spincopy"} {
		t.Run(fn, func(t *testing.T) {
			m := instantiate(t, wasm)
			done := callAsync(m, fn)
			time.Sleep(50 * time.Millisecond)
			gc := make(chan struct{})
			go func() { runtime.GC(); close(gc) }()
			select {
			case <-gc:
			case <-time.After(10 * time.Second):
				t.Errorf("a garbage collection waited 10s for %s", fn)
			}
			expectStopped(t, m, fn, done)
		})
	}
}

// TestBulkHelpersShared: one helper per distinct instruction, so a Go
// guest's thousands of memmoves share two.
func TestBulkHelpersShared(t *testing.T) {
	in := bulkModule()
	out, err := Instrument(in)
	if err != nil {
		t.Fatal(err)
	}
	secsIn, _ := sections(in)
	secsOut, _ := sections(out)
	count := func(secs []section, id byte) uint32 {
		for _, s := range secs {
			if s.id == id {
				return (&reader{b: s.body}).u32()
			}
		}
		return 0
	}
	// fill, copy, init, table.init, table.fill, table.copy; spinfill and
	// spincopy reuse the fill and copy helpers.
	if got, want := count(secsOut, secFunction)-count(secsIn, secFunction), uint32(6); got != want {
		t.Errorf("%d helpers added, want %d", got, want)
	}
}
