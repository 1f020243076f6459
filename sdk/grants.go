package sdk

import (
	"time"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// ReadFile returns the content of a file the operator granted to this
// filter (grants = ["files"], files = [...]); path must be written exactly
// as in files. A file larger than limit bytes is ErrTooLarge.
func ReadFile(path string, limit int64) ([]byte, error) {
	var out []byte
	chunk := make([]byte, 1<<20)
	for {
		n, err := hostFileRead(path, int64(len(out)), chunk)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
		if int64(len(out)+n) > limit {
			return nil, ErrTooLarge
		}
		out = append(out, chunk[:n]...)
	}
}

// SocketCall sends req to the operator's socket_endpoint (grants =
// ["socket"]) and returns everything the peer writes until it closes the
// connection, at most 1 MiB. timeout bounds the exchange (0: only the
// event's deadline); a peer that is down, fails or is too slow is an error.
func SocketCall(req []byte, timeout time.Duration) ([]byte, error) {
	ms := timeout.Milliseconds()
	if ms < 0 {
		ms = 0
	}
	if ms > 1<<31-1 {
		ms = 1<<31 - 1
	}
	if len(req) > abi.MaxSocketRequest {
		return nil, ErrTooLarge
	}
	return hostSocketCall(req, int32(ms))
}
