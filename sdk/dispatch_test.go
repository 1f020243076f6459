package sdk

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/sdk/abi"
)

func mailEvent(t testing.TB) []byte {
	return abi.AppendPacked(nil, &abi.Event{ABI: 1, Stage: abi.StageMail, Filter: "f",
		Session: abi.Session{ID: "s", ClientIP: "192.0.2.1", Helo: "client.example"},
		Txn:     &abi.Txn{From: "bob@example.org", MailParams: map[string]string{"BODY": "8BITMIME"}}})
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		name string
		h    Handlers
		want string
	}{
		{"continue", Handlers{Mail: func(*MailEvent) Result { return Continue() }}, `{"action":"continue"}`},
		{"reject", Handlers{Mail: func(e *MailEvent) Result { return Reject(550, "5.7.1", "no "+e.Txn.From) }},
			`{"action":"reject","code":550,"enhanced":"5.7.1","text":"no bob@example.org"}`},
	}
	for _, tt := range tests {
		Handle(tt.h)
		if got := string(dispatch(mailEvent(t), nil)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	Handle(Handlers{Data: func(e *DataEvent) Result {
		return Continue().With(new(Changes).AddHeader("X-A", "1").RemoveHeader("X-B").SetSender("").ReplacePart("2", "text/plain", "", []byte("x")))
	}})
	got := string(dispatch(abi.AppendPacked(nil, &abi.Event{ABI: 1, Stage: abi.StageData, Message: &abi.Message{Size: 1}}), nil))
	want := `{"action":"continue","changes":{"headers":[{"op":"add","name":"X-A","value":"1"},{"op":"remove","name":"X-B"}],"sender":"","parts":[{"path":"2","content_type":"text/plain","body":"eA=="}]}}`
	if got != want {
		t.Errorf("changes: got %s\nwant %s", got, want)
	}
	packed := func(ev abi.Event) string { return string(abi.AppendPacked(nil, &ev)) }
	good := packed(abi.Event{ABI: 1, Stage: abi.StageData})
	for in, want := range map[string]string{
		packed(abi.Event{ABI: 1, Stage: abi.StageHelo}): `{"action":"sdk error: no handler for stage helo"}`,
		packed(abi.Event{ABI: 1, Stage: "<x>"}):         `{"action":"sdk error: unknown stage \"\u003cx\u003e\""}`,
		good[:len(good)-1]:                              `{"action":"sdk error: malformed packed event at byte 23: unexpected end"}`,
		good + "x":                                      `{"action":"sdk error: malformed packed event at byte 24: trailing bytes"}`,
		`{"abi":1,"stage":"data","session":{}}`:         `{"action":"sdk error: the event is JSON, but this module asks for packed events (sluice_event_encoding = 1, ABI.md 3.4)"}`,
	} {
		if got := string(dispatch([]byte(in), []byte("kept"))); got != "kept"+want {
			t.Errorf("%q: got %s, want kept%s", in, got, want)
		}
	}
}

func TestHeaderHelpers(t *testing.T) {
	h := Header{{Name: "Subject", Value: "a\r\n b"}, {Name: "X", Value: "1"}, {Name: "x", Value: "2"}}
	if h.Get("subject") != "a b" || !h.Has("X") || len(h.Values("X")) != 2 || h.Get("none") != "" {
		t.Errorf("header helpers: %q %v", h.Get("subject"), h.Values("X"))
	}
	if AddressDomain("a@Example.COM") != "example.com" || AddressDomain("postmaster") != "" {
		t.Error("AddressDomain")
	}
}

func BenchmarkDispatchNative(b *testing.B) {
	Handle(Handlers{Mail: func(*MailEvent) Result { return Continue() }})
	ev := mailEvent(b)
	for b.Loop() {
		dispatch(ev, nil)
	}
}

// FuzzDispatch: whatever the event, dispatch answers a valid JSON result
// and never panics (only a handler's own panic traps).
func FuzzDispatch(f *testing.F) {
	for _, in := range packedEvents(f) {
		f.Add(in)
	}
	for _, h := range hostile {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		Handle(Handlers{
			Connect: func(e *ConnectEvent) Result { return Reject(550, "5.7.1", e.Session.Helo) },
			Auth:    func(e *AuthEvent) Result { return Continue() },
			Mail:    func(e *MailEvent) Result { return Tempfail(451, "", e.Txn.From) },
			Rcpt:    func(e *RcptEvent) Result { return Continue() },
			Data: func(e *DataEvent) Result {
				return Continue().With(new(Changes).AddHeader("X", e.Header.Get("Subject")))
			},
			Delivered: func(e *DeliveredEvent) {},
		})
		out := dispatch(in, nil)
		var r abi.Result
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil || dec.More() {
			t.Fatalf("%q: result %s: %v", in, out, err)
		}
		var ev abi.Event
		if decodePacked(in, &ev, new(spares)) != nil && !strings.HasPrefix(r.Action, errorAction) {
			t.Fatalf("%q: malformed event answered %s", in, out)
		}
	})
}
