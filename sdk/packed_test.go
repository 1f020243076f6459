package sdk

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// TestPackedSameAsJSON: every event of the corpus, encoded packed by the
// host's encoder, decodes to what its JSON document decodes to.
func TestPackedSameAsJSON(t *testing.T) {
	for i, doc := range fullEvents(t) {
		if doc[0] != '{' || bytes.ContainsAny(doc, "\r\t") { // the indented copies add nothing here
			continue
		}
		var want abi.Event
		if err := json.Unmarshal(doc, &want); err != nil {
			t.Fatal(err)
		}
		packed := abi.AppendPacked(nil, &want)
		var got abi.Event
		if err := decodePacked(packed, &got, &spares{}); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if g, w := dump(normalized(got)), dump(normalized(want)); g != w {
			t.Errorf("event %d:\n got %s\nwant %s", i, g, w)
		}
	}
}

// normalized treats empty and nil maps and slices alike: JSON keeps an
// empty {} or [] that the packed encoding writes as a count of 0.
func normalized(ev abi.Event) abi.Event {
	clean := func(m map[string]string) map[string]string {
		if len(m) == 0 {
			return nil
		}
		return m
	}
	if ev.Txn != nil {
		t := *ev.Txn
		t.MailParams = clean(t.MailParams)
		if len(t.Recipients) == 0 {
			t.Recipients = nil
		}
		for i := range t.Recipients {
			t.Recipients[i].Params = clean(t.Recipients[i].Params)
		}
		ev.Txn = &t
	}
	if ev.Rcpt != nil {
		r := *ev.Rcpt
		r.Params = clean(r.Params)
		ev.Rcpt = &r
	}
	if ev.Message != nil {
		m := *ev.Message
		if len(m.Header) == 0 {
			m.Header = nil
		}
		if len(m.Parts) == 0 {
			m.Parts = nil
		}
		ev.Message = &m
	}
	if len(ev.Outcomes) == 0 {
		ev.Outcomes = nil
	}
	return ev
}

// TestPackedRefusesBadInput: truncated and inflated documents are refused
// with an error, never a panic or a huge allocation.
func TestPackedRefusesBadInput(t *testing.T) {
	var ev abi.Event
	json.Unmarshal(fullEvents(t)[10], &ev)
	good := abi.AppendPacked(nil, &ev)
	cases := map[string][]byte{
		"empty":           {},
		"trailing byte":   append(bytes.Clone(good), 0),
		"bad boolean":     append([]byte{2, 4, 'm', 'a', 'i', 'l', 0, 0, 0, 0, 0, 0, 0}, 7),
		"string too long": {2, 0x80, 0x80, 0x80, 0x80, 0x08},
		"varint too long": bytes.Repeat([]byte{0xff}, 11),
	}
	for n := 1; n < len(good); n += 7 {
		cases["cut at "+strings.Repeat("|", n%5)+string(rune('a'+n%26))] = good[:n]
	}
	for name, in := range cases {
		var got abi.Event
		if err := decodePacked(in, &got, &spares{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var got abi.Event
	if !reflect.DeepEqual(decodePacked(good, &got, &spares{}), nil) {
		t.Error("the good document was refused")
	}
}

// FuzzDecodePacked: any input gives an event or an error, never a panic.
func FuzzDecodePacked(f *testing.F) {
	for _, doc := range fullEvents(f) {
		var ev abi.Event
		if json.Unmarshal(doc, &ev) == nil {
			f.Add(abi.AppendPacked(nil, &ev))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var ev abi.Event
		decodePacked(in, &ev, &spares{})
	})
}
