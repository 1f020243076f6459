package plugin

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
)

// TestLinearMemory: both kinds of linear memory keep their contents when
// they grow, give zeroed new pages and refuse to grow past the maximum;
// the mapped one never moves.
func TestLinearMemory(t *testing.T) {
	const page = 64 << 10
	for name, mem := range map[string]experimental.LinearMemory{
		"mapped": allocateLinearMemory(page, 64*page),
		"heap":   &heapMemory{max: 64 * page},
	} {
		t.Run(name, func(t *testing.T) {
			defer mem.Free()
			b := mem.Reallocate(page)
			if len(b) != page {
				t.Fatalf("length %d", len(b))
			}
			copy(b, "guest data")
			base := unsafe.SliceData(b)
			for size := 2 * page; size <= 64*page; size *= 2 {
				b = mem.Reallocate(uint64(size))
				if len(b) != size || !bytes.HasPrefix(b, []byte("guest data")) {
					t.Fatalf("at %d bytes: length %d, prefix %q", size, len(b), b[:10])
				}
				if bytes.IndexFunc(b[size/2:], func(r rune) bool { return r != 0 }) >= 0 {
					t.Fatalf("new pages at %d bytes are not zero", size)
				}
				if _, ok := mem.(*mappedMemory); ok && unsafe.SliceData(b) != base {
					t.Fatalf("mapped memory moved when growing to %d bytes", size)
				}
				b[size-1] = 1 // the last byte is writable
				if cap(b) > 64*page {
					t.Fatalf("capacity %d beyond the maximum", cap(b))
				}
			}
			if _, ok := mem.(*mappedMemory); ok && mem.Reallocate(65*page) != nil {
				t.Error("grew past its maximum")
			}
		})
	}
	// Doubling 33 pages would reserve 66: the fallback stops at the maximum.
	h := &heapMemory{max: 64 * page}
	h.Reallocate(33 * page)
	if b := h.Reallocate(34 * page); len(b) != 34*page || cap(b) > 64*page {
		t.Errorf("heap memory grown to length %d, capacity %d (maximum %d)", len(b), cap(b), 64*page)
	}
	mem := allocateLinearMemory(page, 64*page)
	defer mem.Free()
	if _, ok := mem.(*mappedMemory); !ok {
		t.Error("no mapping for a 4 MiB memory")
	}
}
