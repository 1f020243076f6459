package plugin

import (
	"os"
	"path/filepath"
	"testing"
)

// handmade assembles a minimal ABI-shaped module without a compiler: it
// returns version and stages as constants and answers every event with the
// bytes out (placed at 2048) or, when resultPtr is non-zero, with an
// arbitrary (ptr, len). It lets tests speak the ABI wrongly on purpose.
type handmade struct {
	version, stages int32
	encoding        int32 // exported as sluice_event_encoding when non-zero
	out             []byte
	resultPtr       uint32
	resultLen       uint32
	// initBody and startBody, when set, are the code of an exported
	// _initialize and of the module's start function (its start section),
	// both of type () -> (): locals, instructions, end.
	initBody, startBody []byte
	// exportStart exports an empty () -> () function as _start, as a
	// WASI command does.
	exportStart bool
	// eventBody, when set, is the code of sluice_on_event, of type
	// (i32, i32) -> i64, instead of the constant answer.
	eventBody []byte
	imports   []hmImport // functions 0, 1, …: the module's own come after them
	memPages  uint32     // initial memory in 64 KiB pages (0: 1)
}

// hmImport is a function import of a handmade module; typ indexes the
// types handmade declares (see bytes).
type hmImport struct {
	module, name string
	typ          byte
}

// Types of the imports a handmade module may use.
const (
	hmTypeSign     = 4 // sluice.sign: 6 × i32 -> i32
	hmTypeKVPut    = 5 // sluice.kv_put: 4 × i32 -> i32
	hmTypeI32I32   = 6 // wasi random_get: (i32, i32) -> i32
	hmTypeClockGet = 7 // wasi clock_time_get: (i32, i64, i32) -> i32
)

// Function bodies for initBody and startBody.
var (
	bodyLoop = []byte{0, 0x03, 0x40, 0x0c, 0, 0x0b, 0x0b} // loop br 0 end: never returns
	bodyTrap = []byte{0, 0x00, 0x0b}                      // unreachable
)

func (hm handmade) file(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "handmade.wasm")
	if err := os.WriteFile(p, hm.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (hm handmade) bytes() []byte {
	const dataAt = 2048
	packed := int64(dataAt)<<32 | int64(len(hm.out))
	if hm.resultPtr != 0 {
		packed = int64(hm.resultPtr)<<32 | int64(hm.resultLen)
	}
	b := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	// Types: 0 () -> i32, 1 (i32) -> i32, 2 (i32, i32) -> i64, 3 () -> (),
	// then those of the imports.
	b = section(b, 1, []byte{8, 0x60, 0, 1, 0x7f, 0x60, 1, 0x7f, 1, 0x7f, 0x60, 2, 0x7f, 0x7f, 1, 0x7e, 0x60, 0, 0,
		0x60, 6, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f,
		0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f,
		0x60, 2, 0x7f, 0x7f, 1, 0x7f,
		0x60, 3, 0x7f, 0x7e, 0x7f, 1, 0x7f})
	if len(hm.imports) > 0 {
		imp := []byte{byte(len(hm.imports))}
		for _, im := range hm.imports {
			imp = append(append(imp, byte(len(im.module))), im.module...)
			imp = append(append(imp, byte(len(im.name))), im.name...)
			imp = append(imp, 0, im.typ)
		}
		b = section(b, 2, imp)
	}
	first := byte(len(hm.imports)) // index of the module's first own function
	names := []string{"sluice_abi_version", "sluice_stages", "sluice_alloc", "sluice_on_event"}
	types := []byte{0, 0, 1, 2}
	bodies := [][]byte{
		append(append([]byte{0, 0x41}, sleb(int64(hm.version))...), 0x0b),
		append(append([]byte{0, 0x41}, sleb(int64(hm.stages))...), 0x0b),
		append(append([]byte{0, 0x41}, sleb(1024)...), 0x0b),
		append(append([]byte{0, 0x42}, sleb(packed)...), 0x0b),
	}
	if hm.eventBody != nil {
		bodies[3] = hm.eventBody
	}
	if hm.encoding != 0 {
		names, types = append(names, "sluice_event_encoding"), append(types, 0)
		bodies = append(bodies, append(append([]byte{0, 0x41}, sleb(int64(hm.encoding))...), 0x0b))
	}
	if hm.initBody != nil {
		names, types = append(names, "_initialize"), append(types, 3)
		bodies = append(bodies, hm.initBody)
	}
	if hm.exportStart {
		names, types = append(names, "_start"), append(types, 3)
		bodies = append(bodies, []byte{0, 0x0b})
	}
	start := len(bodies)
	if hm.startBody != nil {
		types = append(types, 3)
		bodies = append(bodies, hm.startBody)
	}
	b = section(b, 3, append([]byte{byte(len(types))}, types...))
	b = section(b, 5, append([]byte{1, 0}, uleb(uint64(max(hm.memPages, 1)))...))
	exp := []byte{byte(len(names) + 1)}
	for i, n := range names {
		exp = append(exp, byte(len(n)))
		exp = append(exp, n...)
		exp = append(exp, 0, first+byte(i))
	}
	exp = append(exp, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0)
	b = section(b, 7, exp)
	if hm.startBody != nil {
		b = section(b, 8, []byte{first + byte(start)})
	}
	code := []byte{byte(len(bodies))}
	for _, body := range bodies {
		code = append(code, uleb(uint64(len(body)))...)
		code = append(code, body...)
	}
	b = section(b, 10, code)
	data := append([]byte{1, 0, 0x41}, sleb(dataAt)...)
	data = append(data, 0x0b)
	data = append(data, uleb(uint64(len(hm.out)))...)
	data = append(data, hm.out...)
	return section(b, 11, data)
}

func section(b []byte, id byte, content []byte) []byte {
	b = append(b, id)
	b = append(b, uleb(uint64(len(content)))...)
	return append(b, content...)
}

func uleb(v uint64) []byte {
	var out []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		out = append(out, c)
		if v == 0 {
			return out
		}
	}
}

func sleb(v int64) []byte {
	var out []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		done := (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0)
		if !done {
			c |= 0x80
		}
		out = append(out, c)
		if done {
			return out
		}
	}
}

func osWriteFile(p string, b []byte) error { return os.WriteFile(p, b, 0o644) }
