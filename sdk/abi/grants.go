package abi

// Limits of the files and socket grants (ABI.md section 4).
const (
	MaxSocketRequest  = 64 << 20 // bytes a socket_call may send
	MaxSocketResponse = 1 << 20  // bytes a socket_call may receive
	MaxFilePath       = 4096     // bytes of a file_read path
)
