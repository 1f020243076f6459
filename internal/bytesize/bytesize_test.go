package bytesize

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"1048576", 1 << 20, ""},
		{"0", 0, ""},
		{"35MiB", 35 << 20, ""},
		{"10MB", 10e6, ""},
		{"512KiB", 512 << 10, ""},
		{"512 kib", 512 << 10, ""},
		{" 2GB ", 2e9, ""},
		{"1TiB", 1 << 40, ""},
		{"7B", 7, ""},
		{"8388607TiB", 8388607 << 40, ""},
		{"8388608TiB", 0, "too large"},
		{"99999999999999999999", 0, "too large"},
		{"", 0, "want a whole number"},
		{"MiB", 0, "want a whole number"},
		{"-1", 0, "want a whole number"},
		{"1.5MiB", 0, "unknown unit"},
		{"10M", 0, "unknown unit"},
		{"10 parsecs", 0, "unknown unit"},
	} {
		got, err := Parse(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("Parse(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Parse(%q) = %d, %v; want error with %q", tc.in, got, err, tc.err)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, n := range []int64{0, 1, 1000, 1024, 35 << 20, 10e6, 3 << 40, 1<<62 + 1} {
		s := Format(n)
		back, err := Parse(s)
		if err != nil || back != n {
			t.Errorf("Parse(Format(%d) = %q) = %d, %v", n, s, back, err)
		}
	}
	if s := Format(35 << 20); s != "35MiB" {
		t.Errorf("Format(35MiB) = %q", s)
	}
}
