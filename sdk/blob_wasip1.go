//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/sluice-mail/sluice/sdk/abi"
)

//go:wasmimport sluice blob_put
func sluiceBlobPut(req unsafe.Pointer, reqLen int32, data unsafe.Pointer, dataLen int32, buf unsafe.Pointer, capacity int32) int32

// hostBlobPut calls blob_put once: its answer always fits MaxBlobInfoBytes,
// and a repeated call would store the object twice.
func hostBlobPut(req, data []byte) ([]byte, error) {
	buf := make([]byte, abi.MaxBlobInfoBytes)
	n, err := status(sluiceBlobPut(bptr(req), int32(len(req)), bptr(data), int32(len(data)), bptr(buf), int32(len(buf))))
	if err != nil {
		return nil, err
	}
	if n > len(buf) {
		return nil, HostError(abi.ErrTooLarge)
	}
	return buf[:n], nil
}
