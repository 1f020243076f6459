package interrupt

import (
	"errors"
	"fmt"
)

// wazero decodes a module by allocating each vector at the length the
// module declares before it reads the entries: a 40-byte module declaring
// a table section of 2^30 entries made it allocate gigabytes and the
// relay die of it (at start, at a SIGHUP reload, in `sluice plugin check`).
// checkBounds refuses, before wazero sees the module, every declared count
// that the bytes after it cannot hold (an entry takes at least one byte),
// and the few sizes that cost memory without taking bytes: locals, and
// table sizes, allocated per instance.
const (
	// MaxLocals bounds the locals of one function (V8 refuses more than
	// 50,000 too); compilers emit far fewer.
	MaxLocals = 50000
	// MaxTableEntries bounds a table's declared minimum and maximum: each
	// instance allocates the minimum (8 bytes an entry) outside the
	// memory cap. A Go plugin's table holds a few thousand functions.
	MaxTableEntries = 1 << 20
)

// CheckSizes applies checkBounds to every section of wasm: what Instrument
// checks first, for callers that hand the module to wazero themselves
// (`sluice plugin check` compiles the original to read its shape).
func CheckSizes(wasm []byte) error {
	secs, err := sections(wasm)
	if err != nil {
		return err
	}
	for _, s := range secs {
		if err := checkBounds(s); err != nil {
			return fmt.Errorf("section %d: %w", s.id, err)
		}
	}
	return nil
}

func checkBounds(s section) error {
	r := &reader{b: s.body}
	var err error
	switch s.id {
	case secCustom:
		if r.name() == "name" { // wazero decodes this one
			err = r.nameSection()
		}
	case secType:
		err = r.vector(func() error {
			if form := r.byte1(); form != 0x60 {
				return fmt.Errorf("unsupported type form %#x", form)
			}
			for range 2 { // parameters, results
				if err := r.vector(func() error { r.valType(); return nil }); err != nil {
					return err
				}
			}
			return nil
		})
	case secImport:
		err = r.vector(func() error {
			r.name()
			r.name()
			switch kind := r.byte1(); kind {
			case importFunc:
				r.u32()
			case importTable:
				r.refType()
				return r.tableLimits()
			case importMem:
				r.limits()
			case importGlob:
				r.valType()
				r.byte1()
			case importTag:
				r.byte1()
				r.u32()
			default:
				return fmt.Errorf("unknown import kind %d", kind)
			}
			return nil
		})
	case secCode:
		err = r.vector(func() error {
			f := &reader{b: r.bytes(int(r.u32()))}
			locals := uint64(0)
			err := f.vector(func() error {
				locals += uint64(f.u32())
				f.valType()
				return nil
			})
			if err == nil && locals > MaxLocals {
				err = fmt.Errorf("a function of %d locals; at most %d", locals, MaxLocals)
			}
			return err
		})
	case 3, secMemory, secGlobal, secExport, secTag:
		// Entries are read by scan; only the count here.
		if n := r.u32(); r.err == nil && int64(n) > int64(len(r.b)-r.pos) {
			err = fmt.Errorf("declares %d entries in %d bytes", n, len(r.b)-r.pos)
		}
	case 4: // tables
		err = r.vector(func() error {
			r.refType()
			return r.tableLimits()
		})
	case secElement:
		err = r.vector(r.elementSegment)
	case secData:
		err = r.vector(func() error {
			switch flags := r.u32(); flags {
			case 0:
				if err := r.constExpr(); err != nil {
					return err
				}
			case 1:
			case 2:
				r.u32()
				if err := r.constExpr(); err != nil {
					return err
				}
			default:
				return fmt.Errorf("unknown data segment kind %d", flags)
			}
			return r.byteVector()
		})
	}
	if err == nil && r.err != nil {
		err = r.fail("entry")
	}
	return err
}

// vector reads a count, refuses one the remaining bytes cannot hold, and
// calls item that many times.
func (r *reader) vector(item func() error) error {
	n := r.u32()
	if r.err != nil {
		return nil
	}
	if int64(n) > int64(len(r.b)-r.pos) {
		return fmt.Errorf("declares %d entries in %d bytes", n, len(r.b)-r.pos)
	}
	for ; n > 0 && r.err == nil; n-- {
		if err := item(); err != nil {
			return err
		}
	}
	return nil
}

// byteVector skips a length-prefixed run of bytes that must be there.
func (r *reader) byteVector() error {
	n := r.u32()
	if r.err == nil && int64(n) > int64(len(r.b)-r.pos) {
		return fmt.Errorf("declares %d bytes where %d remain", n, len(r.b)-r.pos)
	}
	r.bytes(int(n))
	return nil
}

func (r *reader) tableLimits() error {
	flags := r.byte1()
	lo := r.leb(10)
	hi := lo
	if flags&1 != 0 {
		hi = r.leb(10)
	}
	if r.err == nil && max(lo, hi) > MaxTableEntries {
		return fmt.Errorf("table of up to %d entries; at most %d", max(lo, hi), MaxTableEntries)
	}
	return nil
}

// elementSegment reads one segment of the element section (its eight forms).
func (r *reader) elementSegment() error {
	flags := r.u32()
	if flags > 7 {
		return fmt.Errorf("unknown element segment kind %d", flags)
	}
	if flags&3 == 2 { // an explicit table index
		r.u32()
	}
	if flags&1 == 0 { // active: an offset
		if err := r.constExpr(); err != nil {
			return err
		}
	}
	if flags&3 != 0 { // an element kind or reference type
		if flags&4 == 0 {
			r.byte1()
		} else {
			r.refType()
		}
	}
	if flags&4 == 0 { // function indices
		return r.vector(func() error { r.u32(); return nil })
	}
	return r.vector(r.constExpr)
}

// constExpr skips a constant expression: the instructions allowed there,
// up to its end.
func (r *reader) constExpr() error {
	for r.err == nil {
		switch op := r.byte1(); op {
		case opEnd:
			return nil
		case 0x41, 0x42: // i32.const, i64.const
			r.s64()
		case 0x43: // f32.const
			r.bytes(4)
		case 0x44: // f64.const
			r.bytes(8)
		case 0x23, 0xd2: // global.get, ref.func
			r.u32()
		case 0xd0: // ref.null
			r.heapType()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant arithmetic
		case 0xfd: // v128.const
			if sub := r.u32(); sub != 12 {
				return fmt.Errorf("instruction 0xfd %d in a constant expression", sub)
			}
			r.bytes(16)
		default:
			if r.err == nil {
				return fmt.Errorf("instruction %#x in a constant expression", op)
			}
		}
	}
	return nil
}

// nameSection checks the counts of the name section's function and local
// name maps, which wazero allocates as declared.
func (r *reader) nameSection() error {
	for !r.done() {
		id := r.byte1()
		sub := &reader{b: r.bytes(int(r.u32()))}
		if r.err != nil {
			return nil
		}
		nameMap := func() error { return sub.vector(func() error { sub.u32(); sub.name(); return nil }) }
		var err error
		switch id {
		case 1:
			err = nameMap()
		case 2:
			err = sub.vector(func() error { sub.u32(); return nameMap() })
		}
		if err != nil {
			return fmt.Errorf("name section: %w", err)
		}
		if sub.err != nil && !errors.Is(sub.err, errShort) {
			return fmt.Errorf("name section: %w", sub.err)
		}
	}
	return nil
}
