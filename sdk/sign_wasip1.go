//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// The imports of the "sign" grant are optional: a plugin imports them only
// when it calls SigningKeys or Sign.

//go:wasmimport sluice sign_keys
func sluiceSignKeys(buf unsafe.Pointer, capacity int32) int32

//go:wasmimport sluice sign
func sluiceSign(name unsafe.Pointer, nameLen int32, data unsafe.Pointer, dataLen int32, buf unsafe.Pointer, capacity int32) int32

func hostSignKeys() ([]byte, error) {
	return fetch(func(buf []byte) int32 { return sluiceSignKeys(bptr(buf), int32(len(buf))) })
}

// hostSign calls sign once: a signature always fits abi.MaxSignature bytes.
func hostSign(name string, data []byte) ([]byte, error) {
	buf := make([]byte, abi.MaxSignature)
	n, err := status(sluiceSign(sptr(name), int32(len(name)), bptr(data), int32(len(data)), bptr(buf), int32(len(buf))))
	if err != nil {
		return nil, err
	}
	if n > len(buf) {
		return nil, HostError(abi.ErrTooLarge)
	}
	return buf[:n], nil
}
