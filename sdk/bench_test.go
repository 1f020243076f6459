package sdk

import (
	"encoding/json"
	"testing"

	"github.com/sluice-mail/sluice/sdk/abi"
)

func BenchmarkDecodeNew(b *testing.B) {
	ev := mailEvent(b)
	for b.Loop() {
		var e abi.Event
		if err := decodeEvent(ev, &e, new(spares)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOld(b *testing.B) {
	ev := mailEvent(b)
	for b.Loop() {
		var e abi.Event
		if err := json.Unmarshal(ev, &e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeDataNew(b *testing.B) {
	ev := fullEvents(b)[10]
	b.SetBytes(int64(len(ev)))
	sp := new(spares)
	for b.Loop() {
		var e abi.Event
		if err := decodeEvent(ev, &e, sp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeDataOld(b *testing.B) {
	ev := fullEvents(b)[10]
	b.SetBytes(int64(len(ev)))
	for b.Loop() {
		var e abi.Event
		if err := json.Unmarshal(ev, &e); err != nil {
			b.Fatal(err)
		}
	}
}
