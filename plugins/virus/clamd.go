package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// clamd's INSTREAM command (clamd(8)): "zINSTREAM\0", then chunks each
// prefixed with its length as a 4-byte big-endian number, then a zero
// length. The reply is "stream: OK", "stream: NAME FOUND" or
// "... ERROR", NUL-terminated; clamd closes the connection after it.
const clamdChunk = 1 << 20

func instreamRequest(data []byte) []byte {
	n := len(data)/clamdChunk + 1
	req := make([]byte, 0, 10+len(data)+4*n+4)
	req = append(req, "zINSTREAM\x00"...)
	for len(data) > 0 {
		c := data[:min(len(data), clamdChunk)]
		req = binary.BigEndian.AppendUint32(req, uint32(len(c)))
		req = append(req, c...)
		data = data[len(c):]
	}
	return binary.BigEndian.AppendUint32(req, 0)
}

// parseClamdReply returns the virus name ("" for clean) or an error.
func parseClamdReply(b []byte) (string, error) {
	s := string(bytes.TrimRight(b, "\x00\r\n"))
	if s == "" {
		return "", errors.New("clamd: empty reply")
	}
	rest, ok := cutPrefix(s, "stream: ")
	if !ok {
		return "", fmt.Errorf("clamd: unexpected reply %q", clean(s))
	}
	switch {
	case rest == "OK":
		return "", nil
	case len(rest) > len(" FOUND") && rest[len(rest)-len(" FOUND"):] == " FOUND":
		return rest[:len(rest)-len(" FOUND")], nil
	}
	return "", fmt.Errorf("clamd: %s", clean(rest))
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}
