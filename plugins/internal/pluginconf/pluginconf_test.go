package pluginconf

import (
	"encoding/json"
	"strings"
	"testing"
)

// Outside the sandbox there is no configuration: AtInit gives nil and
// does not parse.
func TestOutsideSandbox(t *testing.T) {
	parse := func([]byte) (*int, error) {
		t.Fatal("parse called")
		return nil, nil
	}
	if v := AtInit("x", parse); v != nil {
		t.Errorf("AtInit = %v", v)
	}
}

func TestSize(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want int64
		err  string
	}{
		{`1000000`, 1000000, ""},
		{`"1000000"`, 1000000, ""},
		{`"10MiB"`, 10 << 20, ""},
		{`"5 MB"`, 5e6, ""},
		{`"2GiB"`, 2 << 30, ""},
		{`0`, 0, "positive"},
		{`-1`, 0, "positive"},
		{`1.5`, 0, "whole number"},
		{`"0KiB"`, 0, "positive"},
		{`"1.5MiB"`, 0, "unknown unit"},
		{`"lots"`, 0, "want a whole number"},
		{`"10M"`, 0, "unknown unit"},
		{`true`, 0, "want a number of bytes or a string"},
		{`["1MiB"]`, 0, "want a number of bytes or a string"},
	} {
		got, err := Size(json.RawMessage(tc.raw))
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("Size(%s) = %d, %v; want %d", tc.raw, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Size(%s) = %d, %v; want an error with %q", tc.raw, got, err, tc.err)
		}
	}
}
