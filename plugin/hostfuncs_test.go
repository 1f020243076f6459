package plugin

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// TestKVKeyLimits: an empty key is an invalid argument (-1), not "too
// large"; a key over 256 bytes is too large (-5). Both are refused before
// guest memory is read, so no module is needed.
func TestKVKeyLimits(t *testing.T) {
	s, err := openKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), stateKey{}, &callState{f: &filter{kv: s}})
	for _, tt := range []struct {
		name string
		n    uint32
		want int32
	}{
		{"empty", 0, abi.ErrInvalid},
		{"over 256 bytes", abi.MaxKVKeyBytes + 1, abi.ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := hostKVGet(ctx, nil, 0, tt.n, 0, 0); got != tt.want {
				t.Errorf("kv_get: %d, want %d", got, tt.want)
			}
			if got := hostKVPut(ctx, nil, 0, tt.n, 0, 0); got != tt.want {
				t.Errorf("kv_put: %d, want %d", got, tt.want)
			}
			if got := hostKVDelete(ctx, nil, 0, tt.n); got != tt.want {
				t.Errorf("kv_delete: %d, want %d", got, tt.want)
			}
		})
	}
}

// TestKVKeysAreBytes: keys compare exactly (case and all), and the last
// put wins.
func TestKVKeysAreBytes(t *testing.T) {
	s, err := openKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"Key", "1"}, {"key", "2"}, {"k\x00\xff", "3"}, {"Key", "4"}} {
		if err := s.put([]byte(kv[0]), []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, k := range []string{"Key", "key", "k\x00\xff"} {
		v, err := s.get([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(v))
	}
	if strings.Join(got, ",") != "4,2,3" || s.count != 3 {
		t.Errorf("values %v, %d keys; want 4,2,3 and 3 keys", got, s.count)
	}
}

// TestConfigReadWithoutConfig: a filter without a config block reads {}
// from config_read, whoever built the host (the relay's loader, `plugin
// test` and `plugin check` alike), and (0, 0) asks for its size.
func TestConfigReadWithoutConfig(t *testing.T) {
	ctx := context.Background()
	for _, conf := range []string{"", " \n"} {
		h, err := NewHost(ctx, []FilterSpec{{Name: "hm", Wasm: handmade{version: 1, stages: 1}.file(t), ConfigJSON: []byte(conf)}}, HostOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f := h.filters["hm"]
		callCtx := context.WithValue(ctx, stateKey{}, &callState{f: f})
		if got := string(f.cfg.ConfigJSON); got != "{}" {
			t.Errorf("config %q: config_read gives %q, want {}", conf, got)
		}
		if n := hostConfigRead(callCtx, nil, 0, 0); n != 2 {
			t.Errorf("config %q: config_read(0, 0) = %d, want 2", conf, n)
		}
		h.Close(ctx)
	}
}

// TestReadRangeEnds: the range readers (body_read, part_read, header_read,
// file_read) return bytes copied, not a total: (0, 0) and the end both give
// 0, an offset beyond the end -1 (ABI.md section 2). None of these touch
// guest memory, so no module is needed.
func TestReadRangeEnds(t *testing.T) {
	r := strings.NewReader("0123456789")
	for _, tt := range []struct {
		name        string
		off         uint64
		capacity    uint32
		want        int32
		start, stop int64
	}{
		{"(0, 0) at the start", 0, 0, 0, 2, 7},
		{"at the end", 5, 4096, 0, 2, 7},
		{"beyond the end", 6, 4096, abi.ErrInvalid, 2, 7},
		{"far beyond", 1 << 40, 4096, abi.ErrInvalid, 2, 7},
	} {
		if got := readRange(nil, r, tt.start, tt.stop, tt.off, 0, tt.capacity); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}
