//go:build wasip1

// Command badshape gets the module shape wrong in three ways at once: no
// sluice_on_event export, a host import with the wrong signature, and an
// import from a module the ABI does not have. `sluice plugin check` must
// list all three.
package main

import "unsafe"

func main() {}

var in []byte

//go:wasmimport sluice config_read
func configRead(buf unsafe.Pointer, capacity int64) int32 // the ABI says (i32, i32) -> i32

//go:wasmimport env getenv
func getenv(p unsafe.Pointer, n int32) int32

//go:wasmexport sluice_abi_version
func abiVersion() int32 { return 1 }

//go:wasmexport sluice_stages
func stages() int32 {
	configRead(nil, 0)
	getenv(nil, 0)
	return 8
}

//go:wasmexport sluice_alloc
func alloc(n int32) uint32 {
	in = make([]byte, n)
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(in))))
}
