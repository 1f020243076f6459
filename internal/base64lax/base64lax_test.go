package base64lax

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestNewDecoder(t *testing.T) {
	for in, want := range map[string]string{
		"aGVsbG8gd29ybGQ=":                 "hello world",
		"aGVs\r\nbG8g\r\nd29y\r\nbGQ=\r\n": "hello world",
		"aGVs bG8g\td29y*bGQ=!":            "hello world",
		"":                                 "",
	} {
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
			got, err := io.ReadAll(NewDecoder(r))
			if err != nil || string(got) != want {
				t.Errorf("%q: %q, %v; want %q", in, got, err, want)
			}
		}
	}
}
