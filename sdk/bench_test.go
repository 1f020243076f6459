package sdk

import (
	"encoding/json"
	"testing"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// The packed encoding against encoding/json on the same event, natively (in
// the guest the gap is wider: see plugin/RATIONALE.md).
func BenchmarkDecodePackedMail(b *testing.B) { benchDecode(b, 6, true) }
func BenchmarkDecodeJSONMail(b *testing.B)   { benchDecode(b, 6, false) }
func BenchmarkDecodePackedData(b *testing.B) { benchDecode(b, 10, true) }
func BenchmarkDecodeJSONData(b *testing.B)   { benchDecode(b, 10, false) }

func benchDecode(b *testing.B, i int, packed bool) {
	doc := fullEvents(b)[i]
	decode := func(doc []byte, ev *abi.Event, _ *spares) error { return json.Unmarshal(doc, ev) }
	if packed {
		var ev abi.Event
		if err := json.Unmarshal(doc, &ev); err != nil {
			b.Fatal(err)
		}
		doc, decode = abi.AppendPacked(nil, &ev), decodePacked
	}
	b.SetBytes(int64(len(doc)))
	sp := new(spares)
	for b.Loop() {
		var ev abi.Event
		if err := decode(doc, &ev, sp); err != nil {
			b.Fatal(err)
		}
	}
}
