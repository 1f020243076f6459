//go:build wasip1

package sdk

import "unsafe"

//go:wasmimport sluice file_read
func sluiceFileRead(path unsafe.Pointer, pathLen int32, off int64, buf unsafe.Pointer, capacity int32) int32

//go:wasmimport sluice socket_call
func sluiceSocketCall(req unsafe.Pointer, reqLen int32, timeoutMs int32, buf unsafe.Pointer, capacity int32) int32

func hostFileRead(path string, off int64, p []byte) (int, error) {
	return status(sluiceFileRead(sptr(path), int32(len(path)), off, bptr(p), int32(len(p))))
}

func hostSocketCall(req []byte, timeoutMs int32) ([]byte, error) {
	buf := make([]byte, 4096)
	for {
		n := sluiceSocketCall(bptr(req), int32(len(req)), timeoutMs, bptr(buf), int32(len(buf)))
		if n < 0 {
			return nil, HostError(n)
		}
		if int(n) <= len(buf) {
			return buf[:n], nil
		}
		buf = make([]byte, n) // the host answers the repeat from its cache
	}
}
