//go:build wasip1

// Command abi2 is well formed but claims ABI version 2, which this sluice
// does not run: `sluice plugin check` must refuse it.
package main

import "unsafe"

func main() {}

var in, out []byte

//go:wasmexport sluice_abi_version
func abiVersion() int32 { return 2 }

//go:wasmexport sluice_stages
func stages() int32 { return 8 } // mail

//go:wasmexport sluice_alloc
func alloc(n int32) uint32 {
	in = make([]byte, n)
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(in))))
}

//go:wasmexport sluice_on_event
func onEvent(p, n uint32) uint64 {
	out = []byte(`{"action":"continue"}`)
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(out))))<<32 | uint64(len(out))
}
