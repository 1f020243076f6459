//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// The guest side of ABI v1: exports the host calls and imports it provides.

var (
	inbuf  []byte // event buffer handed out by sluice_alloc, kept alive until the next event
	outbuf []byte // last result, kept alive until the next event
)

// maxKeptResult bounds the result buffer kept for the next event.
const maxKeptResult = 64 << 10

//lint:ignore U1000 called by the host through go:wasmexport, which staticcheck does not read
//go:wasmexport sluice_abi_version
func exportABIVersion() int32 { return abi.Version }

//lint:ignore U1000 called by the host through go:wasmexport, which staticcheck does not read
//go:wasmexport sluice_stages
func exportStages() int32 { return stageBits() }

// The SDK asks for packed events, which it decodes 2–4× faster than JSON,
// and takes no other: dispatch answers a JSON event with an error result.
//
//lint:ignore U1000 called by the host through go:wasmexport, which staticcheck does not read
//go:wasmexport sluice_event_encoding
func exportEventEncoding() int32 { return abi.EncodingPacked }

//lint:ignore U1000 called by the host through go:wasmexport, which staticcheck does not read
//go:wasmexport sluice_alloc
func exportAlloc(size int32) uint32 {
	if size < 0 {
		return 0
	}
	inbuf = make([]byte, size)
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(inbuf))))
}

//lint:ignore U1000 called by the host through go:wasmexport, which staticcheck does not read
//go:wasmexport sluice_on_event
func exportOnEvent(ptr, n uint32) uint64 {
	if int(n) != len(inbuf) || uintptr(ptr) != uintptr(unsafe.Pointer(unsafe.SliceData(inbuf))) {
		panic("sdk: sluice_on_event called with a buffer sluice_alloc did not return")
	}
	in := inbuf
	inbuf = nil
	// The host copied the previous result when that call returned, so its
	// buffer can be reused; one grown by a large result is let go.
	if cap(outbuf) > maxKeptResult {
		outbuf = nil
	}
	outbuf = dispatch(in, outbuf[:0])
	p := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(outbuf))))
	return p<<32 | uint64(len(outbuf))
}

//go:wasmimport sluice log
func sluiceLog(level int32, ptr unsafe.Pointer, n int32)

//go:wasmimport sluice config_read
func sluiceConfigRead(buf unsafe.Pointer, capacity int32) int32

//go:wasmimport sluice header_read
func sluiceHeaderRead(off int64, buf unsafe.Pointer, capacity int32) int32

//go:wasmimport sluice body_read
func sluiceBodyRead(off int64, buf unsafe.Pointer, capacity int32) int32

//go:wasmimport sluice part_read
func sluicePartRead(path unsafe.Pointer, pathLen int32, off int64, buf unsafe.Pointer, capacity int32) int32

//go:wasmimport sluice kv_get
func sluiceKVGet(key unsafe.Pointer, keyLen int32, buf unsafe.Pointer, capacity int32) int32

//go:wasmimport sluice kv_put
func sluiceKVPut(key unsafe.Pointer, keyLen int32, val unsafe.Pointer, valLen int32) int32

//go:wasmimport sluice kv_delete
func sluiceKVDelete(key unsafe.Pointer, keyLen int32) int32

//go:wasmimport sluice dns_lookup
func sluiceDNSLookup(req unsafe.Pointer, reqLen int32, buf unsafe.Pointer, capacity int32) int32

//go:wasmimport sluice http_call
func sluiceHTTPCall(req unsafe.Pointer, reqLen int32, buf unsafe.Pointer, capacity int32) int32

func bptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
func sptr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }
func status(n int32) (int, error) {
	if n < 0 {
		return 0, HostError(n)
	}
	return int(n), nil
}

// fetch runs a "returns total length, copies min(total, cap)" host call,
// growing the buffer once when the first guess was too small.
func fetch(f func(buf []byte) int32) ([]byte, error) {
	buf := make([]byte, 4096)
	for {
		n, err := status(f(buf))
		if err != nil {
			return nil, err
		}
		if n <= len(buf) {
			return buf[:n], nil
		}
		buf = make([]byte, n)
	}
}

func hostLog(level int32, msg string) { sluiceLog(level, sptr(msg), int32(len(msg))) }

func hostConfig() ([]byte, error) {
	return fetch(func(b []byte) int32 { return sluiceConfigRead(bptr(b), int32(len(b))) })
}

func hostHeaderRead(off int64, p []byte) (int, error) {
	return status(sluiceHeaderRead(off, bptr(p), int32(len(p))))
}

func hostBodyRead(off int64, p []byte) (int, error) {
	return status(sluiceBodyRead(off, bptr(p), int32(len(p))))
}

func hostPartRead(path string, off int64, p []byte) (int, error) {
	return status(sluicePartRead(sptr(path), int32(len(path)), off, bptr(p), int32(len(p))))
}

func hostKVGet(key string) ([]byte, error) {
	return fetch(func(b []byte) int32 { return sluiceKVGet(sptr(key), int32(len(key)), bptr(b), int32(len(b))) })
}

func hostKVPut(key string, val []byte) error {
	_, err := status(sluiceKVPut(sptr(key), int32(len(key)), bptr(val), int32(len(val))))
	return err
}

func hostKVDelete(key string) error {
	_, err := status(sluiceKVDelete(sptr(key), int32(len(key))))
	return err
}

func hostDNS(req []byte) ([]byte, error) {
	return fetch(func(b []byte) int32 { return sluiceDNSLookup(bptr(req), int32(len(req)), bptr(b), int32(len(b))) })
}

func hostHTTP(req []byte) ([]byte, error) {
	return fetch(func(b []byte) int32 { return sluiceHTTPCall(bptr(req), int32(len(req)), bptr(b), int32(len(b))) })
}
