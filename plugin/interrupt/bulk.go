package interrupt

import (
	"fmt"
)

// Bulk instructions (memory.fill, memory.copy, memory.init and the table
// ones) do an amount of work chosen at run time in one instruction: wazero
// compiles memory.fill and memory.copy to a single memmove, which neither
// the fuel countdown nor the Go scheduler can interrupt. A guest looping
// over a 64 MiB fill ran 8,192 fills (40 s) between two checks, and every
// garbage collection of the relay waited for the memmove in progress.
//
// The rewrite therefore replaces each bulk instruction with a call to a
// helper function it appends to the module, one per distinct instruction
// (with its immediates). A helper charges the fuel countdown for the work
// (one unit per 256 bytes, per 16 table entries) before doing it, and a
// memory operation larger than Chunk bytes is done Chunk bytes at a time,
// each chunk after a return into Go and a look at the stop global. So a
// call is stopped within one chunk (~5 µs) of its deadline, and a
// collection never waits longer than that for a guest.
//
// A helper keeps the instruction's semantics: an out-of-bounds fill or copy
// still traps before writing anything (the helper checks the bounds and
// runs the original instruction, which traps); an overlapping copy to a
// higher address is done from its end. A memory.init whose segment is too
// short for it may write its first chunks before it traps: the host
// discards an instance after any trap, so no one sees that memory again.

// Chunk is the most a rewritten memory.fill, memory.copy or memory.init
// writes between two returns into Go.
const Chunk = 64 << 10

// Fuel charged per byte and per table entry, as a right shift of the count:
// a loop round costs ~1 ns and a unit of fuel; a 256-byte memmove or a
// 16-entry table fill costs about ten.
const (
	memoryFuelShift = 8
	tableFuelShift  = 4
)

// Sub-opcodes (after 0xfc) of the bulk instructions.
const (
	subMemoryInit = 8
	subMemoryCopy = 10
	subMemoryFill = 11
	subTableInit  = 12
	subTableCopy  = 14
	subTableFill  = 17
)

func isBulk(sub uint32) bool {
	switch sub {
	case subMemoryInit, subMemoryCopy, subMemoryFill, subTableInit, subTableCopy, subTableFill:
		return true
	}
	return false
}

// bulk collects the helpers a module's code needs, in the order its bulk
// instructions first appear.
type bulk struct {
	base    uint32            // function index of the first helper
	tables  [][]byte          // element type of each table, as encoded
	index   map[string]uint32 // instruction bytes → helper function index
	helpers []helper
}

type helper struct {
	op  []byte // the instruction with its immediates
	sub uint32
	sig []byte // the function type: 0x60, parameters, results
}

// call returns the index of the helper that performs op (0xfc sub
// immediates), adding it if it is new.
func (b *bulk) call(op []byte, sub uint32) (uint32, error) {
	if i, ok := b.index[string(op)]; ok {
		return i, nil
	}
	i32 := []byte{0x7f}
	value := i32
	if sub == subTableFill {
		r := &reader{b: op, pos: 1}
		r.u32()
		t := r.u32()
		if r.err != nil || int(t) >= len(b.tables) {
			return 0, fmt.Errorf("table.fill of table %d, which does not exist", t)
		}
		value = b.tables[t]
	}
	sig := append([]byte{0x60, 3}, i32...)
	sig = append(sig, value...)
	sig = append(sig, 0x7f, 0)
	if b.index == nil {
		b.index = map[string]uint32{}
	}
	i := b.base + uint32(len(b.helpers))
	b.index[string(op)] = i
	b.helpers = append(b.helpers, helper{op: append([]byte(nil), op...), sub: sub, sig: sig})
	return i, nil
}

// Opcodes the helpers use.
const (
	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opIf          = 0x04
	opElse        = 0x05
	opBrIf        = 0x0d
	opDrop        = 0x1a
	opLocalGet    = 0x20
	opLocalSet    = 0x21
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opMemorySize  = 0x3f
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opI64Const    = 0x42
	opI32LtS      = 0x48
	opI32GtU      = 0x4b
	opI32LeU      = 0x4d
	opI64GtU      = 0x56
	opI32Add      = 0x6a
	opI32Sub      = 0x6b
	opI32ShrU     = 0x76
	opI64Add      = 0x7c
	opI64Shl      = 0x86
	opI64ExtendU  = 0xad
	blockEmpty    = 0x40
)

// body is the code of helper h (locals declaration included): its
// parameters 0, 1, 2 are the instruction's operands.
func (h helper) body(fuel, stop uint32) []byte {
	const dst, src, n = 0, 1, 2
	var b []byte
	emit := func(bs ...byte) { b = append(b, bs...) }
	get := func(l byte) { emit(opLocalGet, l) }
	set := func(l byte) { emit(opLocalSet, l) }
	i32 := func(v int32) { b = appendS32(append(b, opI32Const), v) }
	global := func(op byte, g uint32) { b = appendU32(append(b, op), g) }
	// goCheck returns into Go (memory.grow 0 leaves native code) and traps
	// if the host set stop.
	goCheck := func() {
		i32(0)
		emit(opMemoryGrow, 0, opDrop)
		global(opGlobalGet, stop)
		emit(opIf, blockEmpty, opUnreachable, opEnd)
	}
	original := func() { get(dst); get(src); get(n); emit(h.op...) }

	emit(0) // no locals besides the parameters
	memory := h.sub == subMemoryFill || h.sub == subMemoryCopy || h.sub == subMemoryInit
	shift := int32(tableFuelShift)
	if memory {
		shift = memoryFuelShift
		emit(opBlock, blockEmpty)
		get(n)
		i32(Chunk)
		emit(opI32LeU, opBrIf, 0)
		// Out of bounds: the instruction traps as it would have, having
		// written nothing.
		bounds := func(addr byte) {
			get(addr)
			emit(opI64ExtendU)
			get(n)
			emit(opI64ExtendU, opI64Add, opMemorySize, 0, opI64ExtendU, opI64Const, 16, opI64Shl, opI64GtU)
			emit(opIf, blockEmpty)
			original()
			emit(opUnreachable, opEnd)
		}
		bounds(dst)
		if h.sub == subMemoryCopy {
			bounds(src)
		}
		advance := func(l byte, by int32) { get(l); i32(by); emit(opI32Add); set(l) }
		forward := func() {
			emit(opLoop, blockEmpty)
			goCheck()
			get(dst)
			get(src)
			i32(Chunk)
			emit(h.op...)
			advance(dst, Chunk)
			if h.sub != subMemoryFill { // fill's second operand is the value
				advance(src, Chunk)
			}
			advance(n, -Chunk)
			get(n)
			i32(Chunk)
			emit(opI32GtU, opBrIf, 0, opEnd)
		}
		if h.sub == subMemoryCopy {
			// To a higher address, copy the last chunk first, so no chunk
			// overwrites source bytes not yet copied.
			get(dst)
			get(src)
			emit(opI32GtU, opIf, blockEmpty, opLoop, blockEmpty)
			goCheck()
			advance(n, -Chunk)
			get(dst)
			get(n)
			emit(opI32Add)
			get(src)
			get(n)
			emit(opI32Add)
			i32(Chunk)
			emit(h.op...)
			get(n)
			i32(Chunk)
			emit(opI32GtU, opBrIf, 0, opEnd, opElse)
			forward()
			emit(opEnd)
		} else {
			forward()
		}
		emit(opEnd) // block: at most Chunk bytes are left
	}
	// Charge the fuel for what is left and check when it runs out, as the
	// countdown at loop heads does.
	global(opGlobalGet, fuel)
	get(n)
	i32(shift)
	emit(opI32ShrU, opI32Sub)
	global(opGlobalSet, fuel)
	global(opGlobalGet, fuel)
	i32(1)
	emit(opI32LtS, opIf, blockEmpty)
	i32(Quantum)
	global(opGlobalSet, fuel)
	goCheck()
	emit(opEnd)
	original()
	emit(opEnd)
	return b
}

// types is the type section body (n entries) with the helpers' types added.
func (b *bulk) types(body []byte, n uint32) []byte {
	if len(b.helpers) == 0 {
		return body
	}
	r := &reader{b: body}
	r.u32()
	out := appendU32(nil, n+uint32(len(b.helpers)))
	out = append(out, body[r.pos:]...)
	for _, h := range b.helpers {
		out = append(out, h.sig...)
	}
	return out
}

// functions is the function section body (n entries) with the helpers
// added; their types follow the module's types entries.
func (b *bulk) functions(body []byte, n, types uint32) []byte {
	if len(b.helpers) == 0 {
		return body
	}
	r := &reader{b: body}
	r.u32()
	out := appendU32(nil, n+uint32(len(b.helpers)))
	out = append(out, body[r.pos:]...)
	for i := range b.helpers {
		out = appendU32(out, types+uint32(i))
	}
	return out
}

// code is the instrumented code section body with the helpers' bodies added.
func (b *bulk) code(body []byte, fuel, stop uint32) []byte {
	if len(b.helpers) == 0 {
		return body
	}
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(nil, n+uint32(len(b.helpers)))
	out = append(out, body[r.pos:]...)
	for _, h := range b.helpers {
		fn := h.body(fuel, stop)
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	return out
}
