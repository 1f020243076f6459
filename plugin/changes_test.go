package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// TestChangesFromPlugin drives each kind of change through a real plugin,
// the host's validation and Apply.
func TestChangesFromPlugin(t *testing.T) {
	tests := []struct {
		name   string
		msg    string
		change v
		check  func(t *testing.T, ch *Changes, out string)
	}{
		{"add header", simpleMsg, v{"op": "add", "name": "X-Sluice-Outside", "value": "yes"}, func(t *testing.T, ch *Changes, out string) {
			if !strings.Contains(out, "Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\nX-Sluice-Outside: yes\r\n\r\nHi Alice") {
				t.Errorf("output:\n%s", out)
			}
		}},
		{"set folded header", simpleMsg, v{"op": "set", "name": "subject", "value": "[tagged] hello\r\n world"}, func(t *testing.T, ch *Changes, out string) {
			if !strings.Contains(out, "To: alice@example.com\r\nsubject: [tagged] hello\r\n world\r\nReceived") {
				t.Errorf("output:\n%s", out)
			}
		}},
		{"remove header", simpleMsg, v{"op": "remove", "name": "To"}, func(t *testing.T, ch *Changes, out string) {
			if strings.Contains(out, "To:") {
				t.Errorf("output:\n%s", out)
			}
		}},
		{"sender", simpleMsg, v{"op": "sender", "value": "bounces@example.org"}, func(t *testing.T, ch *Changes, out string) {
			if ch.Sender == nil || *ch.Sender != "bounces@example.org" || out != simpleMsg {
				t.Errorf("sender %v, message changed: %t", ch.Sender, out != simpleMsg)
			}
		}},
		{"null sender", simpleMsg, v{"op": "sender", "value": ""}, func(t *testing.T, ch *Changes, out string) {
			if ch.Sender == nil || *ch.Sender != "" {
				t.Errorf("sender %v", ch.Sender)
			}
		}},
		{"add recipient", simpleMsg, v{"op": "add_rcpt", "value": "archive@example.com"}, func(t *testing.T, ch *Changes, out string) {
			if len(ch.AddRecipients) != 1 || ch.AddRecipients[0].Addr != "archive@example.com" || out != simpleMsg {
				t.Errorf("%+v", ch)
			}
		}},
		{"remove recipient", simpleMsg, v{"op": "remove_rcpt", "value": "carol@example.com"}, func(t *testing.T, ch *Changes, out string) {
			if len(ch.RemoveRecipients) != 1 || ch.RemoveRecipients[0] != "carol@example.com" {
				t.Errorf("%+v", ch)
			}
		}},
		{"replace recipient", simpleMsg, v{"op": "replace_rcpt", "name": "alice@example.com", "value": "alice@fr.example.com"}, func(t *testing.T, ch *Changes, out string) {
			if len(ch.ReplaceRecipients) != 1 || ch.ReplaceRecipients[0] != (RecipientChange{"alice@example.com", "alice@fr.example.com"}) {
				t.Errorf("%+v", ch)
			}
		}},
		{"reroute", simpleMsg, v{"op": "reroute", "name": "alice@example.com", "value": "paris-lmtp"}, func(t *testing.T, ch *Changes, out string) {
			if len(ch.Reroutes) != 1 || ch.Reroutes[0] != (Reroute{"alice@example.com", "paris-lmtp"}) {
				t.Errorf("%+v", ch)
			}
		}},
		{"replace body", simpleMsg, v{"op": "body", "value": "new body\n"}, func(t *testing.T, ch *Changes, out string) {
			if !strings.HasSuffix(out, "+0000\r\n\r\nnew body\r\n") {
				t.Errorf("output:\n%q", out)
			}
		}},
		{"replace attachment", multipartMsg, v{"op": "part", "path": "2", "type": "text/plain", "disposition": "inline", "value": "attachment removed"}, func(t *testing.T, ch *Changes, out string) {
			if strings.Contains(out, "evil.exe") || !strings.Contains(out, "Content-Type: text/plain\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nattachment removed\r\n--outer--") {
				t.Errorf("output:\n%s", out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHost(t, behave(t, "f", v{"changes": []v{tt.change}}, nil))
			verdict, ch := h.chain(t, "f").Data(context.Background(), testTxn(), testMessage(t, tt.msg))
			if verdict.Action != Continue || ch.Empty() {
				t.Fatalf("verdict %+v changes %+v\n%s", verdict, ch, h.logs)
			}
			var out bytes.Buffer
			if err := Apply(ch, strings.NewReader(tt.msg), &out); err != nil {
				t.Fatal(err)
			}
			tt.check(t, ch, out.String())
		})
	}
}

func TestNoChangesIsByteExact(t *testing.T) {
	h := newTestHost(t, behave(t, "pass", v{}, nil))
	for _, msg := range []string{simpleMsg, multipartMsg, "Odd:  spacing\n\tfold\n\nbare LF body\n"} {
		_, ch := h.chain(t, "pass").Data(context.Background(), testTxn(), testMessage(t, msg))
		if !ch.Empty() {
			t.Fatalf("changes %+v", ch)
		}
		var out bytes.Buffer
		if err := Apply(ch, strings.NewReader(msg), &out); err != nil || out.String() != msg {
			t.Errorf("not byte-exact (%v):\n%q", err, out.String())
		}
	}
}

func TestConflictingChangesInChain(t *testing.T) {
	dir := t.TempDir()
	shareCompilationCache(t, dir)
	m := NewMetrics()
	h, err := NewHost(context.Background(), []FilterSpec{
		behave(t, "a", v{"changes": []v{{"op": "body", "value": "one"}}}, nil),
		behave(t, "b", v{"changes": []v{{"op": "part", "path": "1", "type": "text/plain", "value": "two"}}}, nil),
	}, HostOptions{DataDir: dir, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	c, _ := h.Chain([]string{"a", "b"})
	got, ch := c.Data(context.Background(), testTxn(), testMessage(t, simpleMsg))
	if got.Action != Tempfail || got.Filter != "b" || got.Reason != "invalid changes: part 1: an earlier filter replaced the whole body" {
		t.Errorf("verdict %+v", got)
	}
	if !ch.ReplaceBody || len(ch.Parts) != 0 {
		t.Errorf("changes %+v", ch)
	}
	// b failed: counted as an invalid answer, not as the continue it said.
	s := scrape(t, m)
	for k, want := range map[string]float64{
		`sluice_filter_errors_total{filter="b",stage="data",kind="invalid"}`:      1,
		`sluice_filter_verdicts_total{filter="b",stage="data",action="continue"}`: 0,
		`sluice_filter_verdicts_total{filter="a",stage="data",action="continue"}`: 1,
		`sluice_filter_errors_total{filter="a",stage="data",kind="invalid"}`:      0,
	} {
		if s[k] != want {
			t.Errorf("%s = %v, want %v", k, s[k], want)
		}
	}
}

// TestChainRecipientLimit: the envelope changes of a whole chain are held
// to the per-result limit too, so a chain of filters cannot add recipients
// without bound.
func TestChainRecipientLimit(t *testing.T) {
	h := newTestHost(t,
		behave(t, "a", v{"changes": manyChanges("add_rcpt", 600)}, nil),
		behave(t, "b", v{"changes": manyChanges("add_rcpt", 600)}, nil),
	)
	got, ch := h.chain(t, "a", "b").Data(context.Background(), testTxn(), testMessage(t, simpleMsg))
	if got.Action != Tempfail || got.Filter != "b" || !strings.Contains(got.Reason, "add_recipients: 1200 entries in the chain (at most 1000)") {
		t.Errorf("verdict %+v", got)
	}
	if len(ch.AddRecipients) != 600 {
		t.Errorf("%d recipients added, want the first filter's 600", len(ch.AddRecipients))
	}
}

// TestEncodeEventOnce: an event encoded once per chain and given each
// filter's name is byte for byte what encoding it per filter gives, in
// both encodings.
func TestEncodeEventOnce(t *testing.T) {
	txn := testTxn()
	txn.Session.Helo = `evil,"filter":"","x` // a look-alike inside a value
	for _, name := range []string{"spam", `q"uote`, "ünï", "", strings.Repeat("long", 40)} {
		for _, stage := range []string{abi.StageMail, abi.StageData} {
			for _, packed := range []bool{false, true} {
				f := &filter{name: name, packed: packed}
				f.nameJSON, _ = json.Marshal(name)
				f.namePacked = abi.AppendPackedString(nil, name)
				ev := txnEvent(txn)
				ev.ABI, ev.Stage = abi.Version, stage
				got, err := (&chainEvent{ev: ev}).forFilter(f)
				if err != nil {
					t.Fatal(err)
				}
				ev.Filter = name
				want, _ := json.Marshal(ev)
				if packed {
					want = abi.AppendPacked(nil, ev)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s/%q packed=%v:\n got %q\nwant %q", stage, name, packed, got, want)
				}
			}
		}
	}
}

// TestChangesABI: changes shown back to a plugin author use the names of a
// result's changes (ABI.md section 3.3), never the host's own.
func TestChangesABI(t *testing.T) {
	sender := ""
	ch := &Changes{
		Headers:           []HeaderChange{{Op: HeaderRemove, Name: "X-Old", Index: 2}},
		Sender:            &sender,
		AddRecipients:     []Recipient{{Addr: "a@example.com"}},
		RemoveRecipients:  []string{"b@example.com"},
		ReplaceRecipients: []RecipientChange{{From: "c@example.com", To: "d@example.com"}},
		Reroutes:          []Reroute{{Recipient: "e@example.com", Route: "lmtp"}},
		Parts:             []PartReplacement{{Path: "2", ContentType: "text/plain", Content: []byte("hi")}},
	}
	got, err := json.Marshal(ch.ABI())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"headers":[{"op":"remove","name":"X-Old","index":2}],"sender":"","add_recipients":[{"addr":"a@example.com"}],` +
		`"remove_recipients":["b@example.com"],"replace_recipients":[{"from":"c@example.com","to":"d@example.com"}],` +
		`"reroute":[{"rcpt":"e@example.com","route":"lmtp"}],"parts":[{"path":"2","content_type":"text/plain","body":"aGk="}]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// What it prints a plugin could return: the host reads it back.
	var back abi.Changes
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Errorf("not a result's changes: %v", err)
	}
	if b := (&Changes{ReplaceBody: true}).ABI(); b == nil || b.Body == nil || len(*b.Body) != 0 {
		t.Errorf("an emptied body: %+v", b)
	}
	if (*Changes)(nil).ABI() != nil || (&Changes{}).ABI() != nil {
		t.Error("no changes should give nil")
	}
}
