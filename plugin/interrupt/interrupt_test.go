package interrupt

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Hand-assembled modules: the interrupt is tested on the shapes that must
// stop (a loop, a call tree with no loop) and on code that must compute the
// same thing after instrumentation.

func sec(id byte, body ...byte) []byte {
	return append(append([]byte{id}, appendU32(nil, uint32(len(body)))...), body...)
}

func vec(items ...[]byte) []byte {
	b := appendU32(nil, uint32(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func export(name string, kind byte, index byte) []byte {
	return append(append([]byte{byte(len(name))}, name...), kind, index)
}

func code(body ...byte) []byte { return append(appendU32(nil, uint32(len(body))), body...) }

func assemble(sections ...[]byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

// testModule exports
//
//	sum(n) i32: n + (n-1) + ... + 1 in a loop, counting rounds in global 0
//	rounds() i32: global 0
//	spin(): loops forever
//	tree(n) i32: 2^n - 1 by calling itself twice, no loop
func testModule() []byte {
	return assemble(
		sec(secType, vec([]byte{0x60, 1, 0x7f, 1, 0x7f}, []byte{0x60, 0, 1, 0x7f}, []byte{0x60, 0, 0})...),
		sec(3, vec([]byte{0}, []byte{1}, []byte{2}, []byte{0})...),
		sec(secMemory, vec([]byte{0, 1})...),
		sec(secGlobal, vec([]byte{0x7f, 1, 0x41, 0, opEnd})...),
		sec(secExport, vec(export("sum", 0, 0), export("rounds", 0, 1), export("spin", 0, 2), export("tree", 0, 3), export("memory", 2, 0), export("g", 3, 0))...),
		sec(secCode, vec(
			code(1, 1, 0x7f,
				0x03, 0x40,
				0x23, 0, 0x41, 1, 0x6a, 0x24, 0, // rounds++
				0x20, 1, 0x20, 0, 0x6a, 0x21, 1, // acc += n
				0x20, 0, 0x41, 1, 0x6b, 0x22, 0, // n--
				0x0d, 0, // br_if n != 0
				opEnd,
				0x20, 1, opEnd),
			code(0, 0x23, 0, opEnd),
			code(0, 0x03, 0x40, 0x0c, 0, opEnd, opEnd),
			code(0, 0x20, 0, 0x45, 0x04, 0x7f, 0x41, 0, 0x05,
				0x20, 0, 0x41, 1, 0x6b, 0x10, 3,
				0x20, 0, 0x41, 1, 0x6b, 0x10, 3,
				0x6a, 0x41, 1, 0x6a, opEnd, opEnd),
		)...),
	)
}

func instantiate(t *testing.T, wasm []byte) api.Module {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	t.Cleanup(func() { rt.Close(ctx) })
	m, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func call(t *testing.T, m api.Module, name string, args ...uint64) uint64 {
	t.Helper()
	res, err := m.ExportedFunction(name).Call(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// callAsync calls fn of m on another goroutine; the channel gets its error.
func callAsync(m api.Module, fn string, args ...uint64) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := m.ExportedFunction(fn).Call(context.Background(), args...)
		done <- err
	}()
	return done
}

// expectStopped sets m's stop global and waits for the call of fn behind
// done to end with the unreachable trap.
func expectStopped(t *testing.T, m api.Module, fn string, done <-chan error) {
	t.Helper()
	m.ExportedGlobal(StopExport).(api.MutableGlobal).Set(1)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("%s returned %v, want an unreachable trap", fn, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running 10s after the stop", fn)
	}
}

func TestSameResults(t *testing.T) {
	plain := instantiate(t, testModule())
	wasm, err := Instrument(testModule())
	if err != nil {
		t.Fatal(err)
	}
	inst := instantiate(t, wasm)
	for _, n := range []uint64{1, 10, 100000} {
		if a, b := call(t, plain, "sum", n), call(t, inst, "sum", n); a != b {
			t.Errorf("sum(%d) = %d instrumented, %d plain", n, b, a)
		}
	}
	if a, b := call(t, plain, "rounds"), call(t, inst, "rounds"); a != b || a != 100011 {
		t.Errorf("rounds = %d instrumented, %d plain, want 100011", b, a)
	}
	if a, b := call(t, plain, "tree", 12), call(t, inst, "tree", 12); a != b || a != 4095 {
		t.Errorf("tree(12) = %d instrumented, %d plain, want 4095", b, a)
	}
	if g := inst.ExportedGlobal(StopExport); g == nil || g.Get() != 0 {
		t.Errorf("%s = %v, want a zero global", StopExport, g)
	}
}

// TestStops: setting the stop global from another goroutine ends a loop
// and a loop-free call tree, and a garbage collection (which must stop
// every goroutine) completes while the guest runs.
func TestStops(t *testing.T) {
	wasm, err := Instrument(testModule())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fn   string
		args []uint64
	}{{"spin", nil}, {"tree", []uint64{62}}} {
		t.Run(tc.fn, func(t *testing.T) {
			m := instantiate(t, wasm)
			done := callAsync(m, tc.fn, tc.args...)
			time.Sleep(20 * time.Millisecond)
			runtime.GC() // would wait forever without the returns into Go
			expectStopped(t, m, tc.fn, done)
		})
	}
}

func TestRefused(t *testing.T) {
	good := testModule()
	noMemory := assemble(
		sec(secType, vec([]byte{0x60, 0, 0})...),
		sec(3, vec([]byte{0})...),
		sec(secCode, vec(code(0, opEnd))...))
	// global.get 5 does not exist before instrumentation, but would be the
	// fuel counter after it.
	namesFuel := assemble(
		sec(secType, vec([]byte{0x60, 0, 1, 0x7f})...),
		sec(3, vec([]byte{0})...),
		sec(secMemory, vec([]byte{0, 1})...),
		sec(secCode, vec(code(0, 0x23, 0, opEnd))...))
	exportsFuel := assemble(
		sec(secMemory, vec([]byte{0, 1})...),
		sec(secExport, vec(export("fuel", 3, 0))...))
	exportsStop := assemble(
		sec(secMemory, vec([]byte{0, 1})...),
		sec(secGlobal, vec([]byte{0x7f, 1, 0x41, 0, opEnd})...),
		sec(secExport, vec(export(StopExport, 3, 0))...))
	exportsStart := assemble(
		sec(secType, vec([]byte{0x60, 0, 0})...),
		sec(3, vec([]byte{0})...),
		sec(secMemory, vec([]byte{0, 1})...),
		sec(secExport, vec(export(StartExport, 0, 0))...),
		sec(secCode, vec(code(0, opEnd))...))
	gcOp := assemble(
		sec(secType, vec([]byte{0x60, 0, 0})...),
		sec(3, vec([]byte{0})...),
		sec(secMemory, vec([]byte{0, 1})...),
		sec(secCode, vec(code(0, 0xfb, 0, opEnd))...))
	mem := sec(secMemory, vec([]byte{0, 1})...)
	name := func(sub ...byte) []byte { return sec(secCustom, append([]byte{4, 'n', 'a', 'm', 'e'}, sub...)...) }
	for _, tc := range []struct {
		name string
		wasm []byte
		want string
	}{
		// What wazero would allocate as declared before reading it.
		{"tables beyond the section's bytes", assemble(sec(4, 0xff, 0xff, 0xff, 0x7f)), "section 4: declares 268435455 entries in 0 bytes"},
		{"a table of 2^30 entries", assemble(sec(4, vec([]byte{0x70, 0, 0x80, 0x80, 0x80, 0x80, 0x04})...), mem), "table of up to 1073741824 entries"},
		{"an imported table of 2^30", assemble(sec(secImport, vec([]byte{1, 'm', 1, 't', importTable, 0x70, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x04})...), mem), "table of up to 1073741824"},
		{"a data segment beyond its bytes", assemble(mem, sec(secData, vec([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})...)), "declares 4294967295 bytes"},
		{"an element vector beyond its bytes", assemble(mem, sec(secElement, vec([]byte{1, 0, 0xff, 0xff, 0xff, 0x0f})...)), "section 9: declares"},
		{"parameters beyond their bytes", assemble(sec(secType, vec([]byte{0x60, 0xff, 0xff, 0xff, 0x0f})...)), "section 1: declares"},
		{"100,000 locals", assemble(sec(secType, vec([]byte{0x60, 0, 0})...), sec(3, vec([]byte{0})...), mem,
			sec(secCode, vec(code(1, 0xa0, 0x8d, 0x06, 0x7f, opEnd))...)), "a function of 100000 locals; at most 50000"},
		{"function names beyond their bytes", assemble(mem, name(1, 5, 0xff, 0xff, 0xff, 0xff, 0x0f)), "name section: declares"},
		{"local names beyond their bytes", assemble(mem, name(2, 6, 1, 0, 0xff, 0xff, 0xff, 0x0f)), "name section: declares"},
		// Found by FuzzInstrument: wazero allocated 3 and 7 GB for these.
		{"fuzz: table section", []byte("\x00asm\x01\x00\x00\x00\x04\r\xff\xff\xff0000000000\x05\x1d00@00000000000000000000000000"), "section 4"},
		{"fuzz: element section", []byte("\x00asm\x01\x00\x00\x00\t\r\x91\x91\x910000000000\x05\x1d00000000000000000000000000000"), "section 9"},
		{"empty", nil, "not a WebAssembly"},
		{"text", []byte("(module)"), "not a WebAssembly"},
		{"truncated", good[:len(good)-3], "malformed"},
		{"no memory", noMemory, "no memory"},
		{"names a global it lacks", namesFuel, "global 0 does not exist"},
		{"exports a global it lacks", exportsFuel, "global 0, which does not exist"},
		{"exports the stop name", exportsStop, "already exports"},
		{"exports the start name", exportsStart, "already exports"},
		{"GC instruction", gcOp, "unsupported instruction 0xfb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Instrument(tc.wasm)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Instrument: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestMissingSectionsCreated: a module without global or export section
// gets both, in a valid place.
func TestMissingSectionsCreated(t *testing.T) {
	wasm := assemble(
		sec(secType, vec([]byte{0x60, 0, 0})...),
		sec(3, vec([]byte{0})...),
		sec(secMemory, vec([]byte{0, 1})...),
		sec(secCode, vec(code(0, 0x03, 0x40, opEnd, opEnd))...),
		sec(secCustom, append([]byte{4}, "name"...)...))
	out, err := Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	m := instantiate(t, out)
	if m.ExportedGlobal(StopExport) == nil {
		t.Fatalf("no %s export", StopExport)
	}
}

// TestStartFunction: a start function no longer runs inside instantiation,
// where the stop global cannot reach it yet; it is exported for the host to
// call, and stops like any call.
func TestStartFunction(t *testing.T) {
	// Function 0 (the start function) counts its runs in global 0, or
	// spins forever once global 1 is set; function 1 reads global 0.
	wasm := func(spin bool) []byte {
		var g1 byte
		if spin {
			g1 = 1
		}
		return assemble(
			sec(secType, vec([]byte{0x60, 0, 0}, []byte{0x60, 0, 1, 0x7f})...),
			sec(3, vec([]byte{0}, []byte{1})...),
			sec(secMemory, vec([]byte{0, 1})...),
			sec(secGlobal, vec([]byte{0x7f, 1, 0x41, 0, opEnd}, []byte{0x7f, 0, 0x41, g1, opEnd})...),
			sec(secExport, vec(export("runs", 0, 1))...),
			sec(secStart, 0),
			sec(secCode, vec(
				code(0, 0x23, 0, 0x41, 1, 0x6a, 0x24, 0, // runs++
					0x23, 1, 0x04, 0x40, 0x03, 0x40, 0x0c, 0, opEnd, opEnd, // if spin { loop {} }
					opEnd),
				code(0, 0x23, 0, opEnd))...))
	}
	if got := call(t, instantiate(t, wasm(false)), "runs"); got != 1 {
		t.Fatalf("plain module: start ran %d times", got)
	}
	out, err := Instrument(wasm(false))
	if err != nil {
		t.Fatal(err)
	}
	m := instantiate(t, out)
	if got := call(t, m, "runs"); got != 0 {
		t.Errorf("instrumented module: start ran %d times inside instantiation", got)
	}
	start := m.ExportedFunction(StartExport)
	if start == nil {
		t.Fatalf("no %s export", StartExport)
	}
	if _, err := start.Call(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := call(t, m, "runs"); got != 1 {
		t.Errorf("after calling %s: start ran %d times", StartExport, got)
	}

	// A spinning start function: instantiation returns, and the call stops.
	out, err = Instrument(wasm(true))
	if err != nil {
		t.Fatal(err)
	}
	m = instantiate(t, out)
	expectStopped(t, m, StartExport, callAsync(m, StartExport))
}

// FuzzInstrument: Instrument never panics, and what it accepts from a
// module wazero compiles, wazero compiles too. (What it refuses never
// reaches wazero, which is how the fuzzer no longer dies of wazero's
// allocations.)
func FuzzInstrument(f *testing.F) {
	f.Add(testModule())
	f.Add(assemble(sec(secMemory, vec([]byte{0, 1})...)))
	// Inputs on which wazero allocated gigabytes before checkBounds.
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x04\r\xff\xff\xff0000000000\x05\x1d00@00000000000000000000000000"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\t\r\x91\x91\x910000000000\x05\x1d00000000000000000000000000000"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Instrument(wasm)
		if err != nil {
			return
		}
		if !bytes.Equal(out[:8], wasm[:8]) {
			t.Fatal("header changed")
		}
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
		defer rt.Close(ctx)
		if _, err := rt.CompileModule(ctx, wasm); err != nil {
			return
		}
		if _, err := rt.CompileModule(ctx, out); err != nil {
			t.Fatalf("the module compiles, its instrumented copy does not: %v", err)
		}
	})
}
