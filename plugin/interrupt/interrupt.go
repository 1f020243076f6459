// Package interrupt rewrites a WebAssembly module so that a call into it
// can be stopped from another goroutine, cheaply.
//
// wazero's own mechanism (RuntimeConfig.WithCloseOnContextDone) leaves
// compiled code at every loop header for a round trip into Go. Go-compiled
// WebAssembly passes a loop header on every taken jump, so that check made
// a Go plugin's event handling 4-5 times slower (see plugin/RATIONALE.md).
// Instrument instead inserts, at the start of every function and of every
// loop, a countdown of a "fuel" global that the module cannot name:
//
//	fuel = fuel - 1
//	if fuel == 0 {
//		fuel = Quantum
//		memory.grow 0      // leaves native code for Go: a point where the
//		                   // Go scheduler can stop this goroutine for GC
//		if stop != 0 { unreachable }
//	}
//
// stop is a second new global, exported as StopExport, that the host sets
// (api.MutableGlobal.Set) to interrupt the call: the guest traps within
// Quantum loop rounds or function calls. The round trip into Go every
// Quantum rounds is what lets the Go runtime stop the world while a guest
// runs: native code between such points cannot be preempted.
//
// A start function (the module's start section) would run inside
// instantiation, before the host can reach the stop global: Instrument
// removes the start section and exports that function as StartExport, for
// the host to call, interruptible, right after instantiating.
//
// The module is refused when it uses an instruction this package does not
// know, names a global that does not exist (it could then reach the new
// ones), already exports StopExport or StartExport, or has no memory to grow;
// and when it declares more entries than its bytes hold, or more locals or
// table entries than MaxLocals and MaxTableEntries (see checkBounds).
package interrupt

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// StopExport is the name of the exported i32 global that interrupts the
// module when set to a non-zero value.
const StopExport = "sluice_interrupt"

// StartExport is the name under which an instrumented module exports its
// start function, if it had one: the caller must call it once after
// instantiation, before anything else, as instantiation would have.
const StartExport = "sluice_interrupt_start"

// Quantum is the number of function entries and loop rounds between two
// returns into Go (each costs ~40 ns; a round costs ~1 ns).
const Quantum = 8192

// Section ids of the binary format.
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secTable    = 4
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secElement  = 9
	secCode     = 10
	secData     = 11
	secDataCnt  = 12
	secTag      = 13
	importFunc  = 0
	importTable = 1
	importMem   = 2
	importGlob  = 3
	importTag   = 4
	exportFunc  = 0
	exportGlob  = 3
	opEnd       = 0x0b
)

// sectionOrder gives the position of each known section; the global and
// export sections are created in their place when missing.
var sectionOrder = map[byte]int{secType: 1, secImport: 2, 3: 3, 4: 4, secMemory: 5, secTag: 6, secGlobal: 7,
	secExport: 8, secStart: 9, secElement: 10, secDataCnt: 11, secCode: 12, secData: 13}

type section struct {
	id   byte
	body []byte
}

// Instrument returns a copy of the module wasm with the interrupt checks in
// place, or an error saying why the module is refused.
func Instrument(wasm []byte) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	var m module
	for _, s := range secs {
		if err := checkBounds(s); err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
		if err := m.scan(s); err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
	}
	if !m.hasMemory {
		return nil, errors.New("module has no memory")
	}
	if m.exportsStop {
		return nil, fmt.Errorf("module already exports %q", StopExport)
	}
	if m.exportsStart {
		return nil, fmt.Errorf("module already exports %q", StartExport)
	}
	for _, g := range m.exportedGlobals {
		if g >= m.globals {
			return nil, fmt.Errorf("export of global %d, which does not exist", g)
		}
	}
	fuel, stop := m.globals, m.globals+1
	// The code goes first: it decides which bulk helpers the type,
	// function and code sections gain.
	bk := &bulk{base: m.funcImports + m.funcs, tables: m.tables}
	var code []byte
	for _, s := range secs {
		if s.id == secCode {
			if code, err = instrumentCode(s.body, m.globals, fuel, stop, bk); err != nil {
				return nil, fmt.Errorf("code: %w", err)
			}
		}
	}
	out := append([]byte(nil), wasm[:8]...)
	added := map[byte]bool{}
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	// addMissing creates the global or export section just before the
	// first section that must follow it (before 0: at the end).
	addMissing := func(before byte) {
		for _, id := range []byte{secGlobal, secExport} {
			if added[id] || m.present[id] || (before != 0 && sectionOrder[id] >= sectionOrder[before]) {
				continue
			}
			added[id] = true
			switch id {
			case secGlobal:
				emit(id, newGlobals(nil, 0))
			case secExport:
				emit(id, newExport(nil, 0, stop, m.start))
			}
		}
	}
	for _, s := range secs {
		if s.id != secCustom {
			addMissing(s.id)
		}
		switch s.id {
		case secGlobal:
			r := &reader{b: s.body}
			n := r.u32()
			emit(s.id, newGlobals(s.body[r.pos:], n))
		case secExport:
			r := &reader{b: s.body}
			n := r.u32()
			emit(s.id, newExport(s.body[r.pos:], n, stop, m.start))
		case secStart:
			// dropped: the function is exported as StartExport instead
		case secType:
			emit(s.id, bk.types(s.body, m.types))
		case secFunction:
			emit(s.id, bk.functions(s.body, m.funcs, m.types))
		case secCode:
			emit(s.id, bk.code(code, fuel, stop))
		default:
			emit(s.id, s.body)
		}
	}
	addMissing(0)
	return out, nil
}

// ErrNotModule: the bytes do not start like a binary WebAssembly 1.0 module.
var ErrNotModule = errors.New("not a WebAssembly 1.0 binary module")

// sections splits a binary module into its sections.
func sections(wasm []byte) ([]section, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || binary.LittleEndian.Uint32(wasm[4:8]) != 1 {
		return nil, ErrNotModule
	}
	var secs []section
	r := &reader{b: wasm, pos: 8}
	for !r.done() {
		id := r.byte1()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, r.fail("section header")
		}
		secs = append(secs, section{id, body})
	}
	return secs, nil
}

// newGlobals is a global section of the n existing entries in rest plus
// fuel (i32, starting at Quantum) and stop (i32, zero), both mutable.
func newGlobals(rest []byte, n uint32) []byte {
	b := appendU32(nil, n+2)
	b = append(b, rest...)
	b = append(b, 0x7f, 1, 0x41)
	b = appendS32(b, Quantum)
	b = append(b, opEnd, 0x7f, 1, 0x41, 0, opEnd)
	return b
}

// newExport is an export section of the n existing entries in rest plus
// StopExport for the global stop and, when start is set, StartExport for
// the function *start.
func newExport(rest []byte, n, stop uint32, start *uint32) []byte {
	extra := uint32(1)
	if start != nil {
		extra++
	}
	b := appendU32(nil, n+extra)
	b = append(b, rest...)
	b = appendU32(b, uint32(len(StopExport)))
	b = append(b, StopExport...)
	b = append(b, exportGlob)
	b = appendU32(b, stop)
	if start != nil {
		b = appendU32(b, uint32(len(StartExport)))
		b = append(b, StartExport...)
		b = append(b, exportFunc)
		b = appendU32(b, *start)
	}
	return b
}

// module is what Instrument needs to know about the sections other than code.
type module struct {
	present      map[byte]bool
	globals      uint32 // imported and defined
	hasMemory    bool
	exportsStop  bool
	exportsStart bool
	start        *uint32 // the start function, if the module has one
	types        uint32
	funcImports  uint32
	funcs        uint32   // defined in the module
	tables       [][]byte // element type of each table (imported first), as encoded
	// exportedGlobals must all exist: the new globals come after them.
	exportedGlobals []uint32
}

func (m *module) scan(s section) error {
	if m.present == nil {
		m.present = map[byte]bool{}
	}
	if s.id != secCustom {
		if m.present[s.id] {
			return errors.New("repeated section")
		}
		if _, ok := sectionOrder[s.id]; !ok {
			return errors.New("unknown section")
		}
		m.present[s.id] = true
	}
	r := &reader{b: s.body}
	switch s.id {
	case secImport:
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.name()
			r.name()
			switch kind := r.byte1(); kind {
			case importFunc:
				r.u32()
				m.funcImports++
			case importTable:
				m.tables = append(m.tables, r.refTypeBytes())
				r.limits()
			case importMem:
				r.limits()
				m.hasMemory = true
			case importGlob:
				r.valType()
				r.byte1()
				m.globals++
			case importTag:
				r.byte1()
				r.u32()
			default:
				return fmt.Errorf("unknown import kind %d", kind)
			}
		}
	case secType:
		m.types = r.u32()
	case secFunction:
		m.funcs = r.u32()
	case secTable:
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			m.tables = append(m.tables, r.refTypeBytes())
			r.limits()
		}
	case secMemory:
		m.hasMemory = m.hasMemory || r.u32() > 0
	case secGlobal:
		n := r.u32()
		m.globals += n
	case secStart:
		f := r.u32()
		m.start = &f
	case secExport:
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			name := r.name()
			kind, index := r.byte1(), r.u32()
			switch name {
			case StopExport:
				m.exportsStop = true
			case StartExport:
				m.exportsStart = true
			}
			// Global indices are checked once the global section is known.
			if kind == exportGlob {
				m.exportedGlobals = append(m.exportedGlobals, index)
			}
		}
	}
	if r.err != nil {
		return r.fail("entry")
	}
	return nil
}

// check is the instruction sequence inserted at function and loop entries.
func check(fuel, stop uint32) []byte {
	var b []byte
	b = append(b, 0x23) // global.get fuel
	b = appendU32(b, fuel)
	b = append(b, 0x41, 1, 0x6b, 0x24) // i32.const 1; i32.sub; global.set fuel
	b = appendU32(b, fuel)
	b = append(b, 0x23) // global.get fuel
	b = appendU32(b, fuel)
	b = append(b, 0x45, 0x04, 0x40, 0x41) // i32.eqz; if; i32.const Quantum
	b = appendS32(b, Quantum)
	b = append(b, 0x24) // global.set fuel
	b = appendU32(b, fuel)
	b = append(b, 0x41, 0, 0x40, 0, 0x1a, 0x23) // i32.const 0; memory.grow 0; drop; global.get stop
	b = appendU32(b, stop)
	b = append(b, 0x04, 0x40, 0x00, opEnd, opEnd) // if; unreachable; end; end
	return b
}

// instrumentCode rewrites the code section: the check goes after each
// function's locals and after each loop's block type.
func instrumentCode(body []byte, globals, fuel, stop uint32, bk *bulk) ([]byte, error) {
	chk := check(fuel, stop)
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(nil, n)
	var fn []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		f := &reader{b: r.bytes(int(size))}
		if r.err != nil {
			return nil, fmt.Errorf("function %d: %w", i, r.fail("size"))
		}
		for groups := f.u32(); groups > 0 && f.err == nil; groups-- {
			f.u32()
			f.valType()
		}
		if f.err != nil {
			return nil, fmt.Errorf("function %d: %w", i, f.fail("locals"))
		}
		fn = append(fn[:0], f.b[:f.pos]...)
		fn = append(fn, chk...)
		var err error
		if fn, err = instrumentExpr(f, fn, chk, globals, bk); err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if r.err != nil || !r.done() {
		return nil, r.fail("function count")
	}
	return out, nil
}

// instrumentExpr copies the instructions of one function body from r to
// out, with chk after every loop's block type and a call to a helper of bk
// instead of every bulk instruction.
func instrumentExpr(r *reader, out, chk []byte, globals uint32, bk *bulk) ([]byte, error) {
	for !r.done() {
		start := r.pos
		op := r.byte1()
		isLoop := false
		switch {
		case op == 0x03: // loop
			r.blockType()
			isLoop = true
		case op == 0x02, op == 0x04, op == 0x06: // block, if, try
			r.blockType()
		case op <= 0x01, op == 0x05, op == 0x0a, op == opEnd, op == 0x0f, op == 0x19, op == 0x1a, op == 0x1b,
			op >= 0x45 && op <= 0xc4, op == 0xd1, op == 0xd3, op == 0xd4:
			// no immediates
		case op == 0x07, op == 0x08, op == 0x09, op == 0x0c, op == 0x0d, op == 0x10, op == 0x12, op == 0x18,
			op >= 0x20 && op <= 0x22, op == 0x25, op == 0x26, op == 0xd2, op == 0xd5, op == 0xd6:
			r.u32()
		case op == 0x23, op == 0x24: // global.get, global.set
			if g := r.u32(); g >= globals {
				return nil, fmt.Errorf("global %d does not exist", g)
			}
		case op == 0x0e: // br_table
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.u32()
			}
			r.u32()
		case op == 0x11, op == 0x13: // call_indirect, return_call_indirect
			r.u32()
			r.u32()
		case op == 0x1c: // select t*
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.valType()
			}
		case op == 0x1f: // try_table
			r.blockType()
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				if kind := r.byte1(); kind < 2 {
					r.u32()
				} else if kind > 3 {
					return nil, fmt.Errorf("unknown catch kind %d at byte %d", kind, start)
				}
				r.u32()
			}
		case op >= 0x28 && op <= 0x3e:
			r.memArg()
		case op == 0x3f, op == 0x40: // memory.size, memory.grow
			r.u32()
		case op == 0x41:
			r.s64()
		case op == 0x42:
			r.s64()
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op == 0xd0: // ref.null
			r.heapType()
		case op == 0xfc:
			sub, err := r.prefixFC()
			if err != nil {
				return nil, fmt.Errorf("%w at byte %d", err, start)
			}
			if r.err == nil && isBulk(sub) {
				f, err := bk.call(r.b[start:r.pos], sub)
				if err != nil {
					return nil, fmt.Errorf("%w at byte %d", err, start)
				}
				out = appendU32(append(out, 0x10), f) // call
				continue
			}
		case op == 0xfd:
			if err := r.prefixFD(); err != nil {
				return nil, fmt.Errorf("%w at byte %d", err, start)
			}
		case op == 0xfe:
			if err := r.prefixFE(); err != nil {
				return nil, fmt.Errorf("%w at byte %d", err, start)
			}
		default:
			return nil, fmt.Errorf("unsupported instruction %#x at byte %d", op, start)
		}
		if r.err != nil {
			return nil, r.fail(fmt.Sprintf("instruction %#x at byte %d", op, start))
		}
		out = append(out, r.b[start:r.pos]...)
		if isLoop {
			out = append(out, chk...)
		}
	}
	return out, nil
}

func (r *reader) prefixFC() (uint32, error) {
	sub := r.u32()
	switch {
	case sub <= 7: // saturating truncations
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	case sub == 9, sub == 11, sub == 13, sub >= 15 && sub <= 17:
		r.u32()
	default:
		return sub, fmt.Errorf("unsupported instruction 0xfc %d", sub)
	}
	return sub, nil
}

func (r *reader) prefixFD() error {
	switch sub := r.u32(); {
	case sub <= 11, sub == 92, sub == 93: // loads and stores
		r.memArg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract and replace lane
		r.byte1()
	case sub >= 84 && sub <= 91: // load and store lane
		r.memArg()
		r.byte1()
	case sub <= 275:
		// the other SIMD instructions take no immediates
	default:
		return fmt.Errorf("unsupported instruction 0xfd %d", sub)
	}
	return nil
}

func (r *reader) prefixFE() error {
	switch sub := r.u32(); {
	case sub == 3: // atomic.fence
		r.byte1()
	case sub <= 2, sub >= 0x10 && sub <= 0x4e:
		r.memArg()
	default:
		return fmt.Errorf("unsupported instruction 0xfe %d", sub)
	}
	return nil
}

// reader decodes the binary format; the first error sticks.
type reader struct {
	b   []byte
	pos int
	err error
}

var errShort = errors.New("unexpected end")

func (r *reader) done() bool { return r.err != nil || r.pos >= len(r.b) }

func (r *reader) fail(what string) error {
	if r.err == nil {
		r.err = errors.New("trailing bytes")
	}
	return fmt.Errorf("malformed %s: %w", what, r.err)
}

func (r *reader) byte1() byte {
	if r.err != nil || r.pos >= len(r.b) {
		r.err = errShort
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b)-r.pos {
		r.err = errShort
		return nil
	}
	b := r.b[r.pos : r.pos+n]
	r.pos += n
	return b
}

// leb reads an LEB128 number of at most maxBytes bytes.
func (r *reader) leb(maxBytes int) uint64 {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		c := r.byte1()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = errors.New("LEB128 number too long")
	return 0
}

func (r *reader) u32() uint32 {
	v := r.leb(5)
	if v > 1<<32-1 {
		r.err = errors.New("u32 out of range")
	}
	return uint32(v)
}

func (r *reader) s64() { r.leb(10) }

func (r *reader) name() string {
	n := r.u32()
	return string(r.bytes(int(n)))
}

func (r *reader) limits() {
	flags := r.byte1()
	r.leb(10)
	if flags&1 != 0 {
		r.leb(10)
	}
	if flags > 7 {
		r.err = fmt.Errorf("unknown limits flags %#x", flags)
	}
}

// valType reads a value type, including the (ref null? ht) forms.
func (r *reader) valType() {
	switch c := r.byte1(); c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69:
	case 0x63, 0x64:
		r.heapType()
	default:
		if r.err == nil {
			r.err = fmt.Errorf("unknown value type %#x", c)
		}
	}
}

func (r *reader) refType() { r.valType() }

// refTypeBytes reads a reference type and returns its encoding.
func (r *reader) refTypeBytes() []byte {
	start := r.pos
	r.refType()
	if r.err != nil {
		return nil
	}
	return r.b[start:r.pos]
}

// heapType is a type index (s33) or one abstract type byte; both read as
// one signed LEB128 number.
func (r *reader) heapType() { r.leb(5) }

// blockType is empty (0x40), a value type or a type index (s33).
func (r *reader) blockType() {
	if r.pos < len(r.b) {
		switch r.b[r.pos] {
		case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69:
			r.pos++
			return
		case 0x63, 0x64:
			r.valType()
			return
		}
	}
	r.leb(5)
}

// memArg is an alignment (bit 6 announcing a memory index) and an offset.
func (r *reader) memArg() {
	if align := r.u32(); align&(1<<6) != 0 {
		r.u32()
	}
	r.leb(10)
}

// appendU32 appends v as unsigned LEB128, the binary format's u32.
func appendU32(b []byte, v uint32) []byte { return binary.AppendUvarint(b, uint64(v)) }

// appendS32 appends v as signed LEB128 (not zig-zag, unlike binary.AppendVarint).
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
