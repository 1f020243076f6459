package plugin

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// linearMemory backs each instance's linear memory with an anonymous
// mapping of its maximum size (the filter's memory limit), reserved but not
// committed. wazero's default keeps the memory in a Go slice and copies all
// of it whenever the guest grows it (a Go guest grows its memory ~9 times in
// its first 20,000 events, to ~8 MiB); here growing only lengthens the
// slice over the same mapping, pages count towards RSS once touched, and
// the guest's memory stays off the Go heap, where it inflated the garbage
// collector's heap goal by every instance's size.
var linearMemory experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(allocateLinearMemory)

func allocateLinearMemory(capacity, max uint64) experimental.LinearMemory {
	if max > 0 && max <= 1<<32 {
		b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
		if err == nil {
			return &mappedMemory{mapping: b}
		}
	}
	return &heapMemory{buf: make([]byte, 0, capacity), max: max}
}

// mappedMemory is a linear memory over a mapping of its maximum size.
// Pages past the current length were never written (the guest's accesses
// are bounds-checked against the length), so they read as zero when the
// memory grows, as WebAssembly requires.
type mappedMemory struct{ mapping []byte }

func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.mapping)) {
		return nil
	}
	return m.mapping[:size:size]
}

func (m *mappedMemory) Free() {
	if m.mapping != nil {
		syscall.Munmap(m.mapping)
		m.mapping = nil
	}
}

// heapMemory is a linear memory in a Go slice, grown by copying, as
// wazero's default does: the fallback when no mapping can be made.
type heapMemory struct {
	buf []byte
	max uint64 // the most ever asked for (0: unknown)
}

func (h *heapMemory) Reallocate(size uint64) []byte {
	if size > uint64(cap(h.buf)) {
		capacity := max(size, 2*uint64(cap(h.buf)))
		if h.max > 0 {
			capacity = max(size, min(capacity, h.max))
		}
		b := make([]byte, size, capacity)
		copy(b, h.buf)
		h.buf = b
	}
	h.buf = h.buf[:size]
	return h.buf
}

func (h *heapMemory) Free() { h.buf = nil }
