package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestEnvelopeAfter(t *testing.T) {
	rcpts := []Recipient{{Addr: "a@example.com"}, {Addr: "b@example.com"}}
	cases := []struct {
		name     string
		ch       Changes
		all, new []string
	}{
		{"none", Changes{}, []string{"a@example.com", "b@example.com"}, nil},
		{"add", Changes{AddRecipients: []Recipient{{Addr: "c@x.test"}}}, []string{"a@example.com", "b@example.com", "c@x.test"}, []string{"c@x.test"}},
		{"rename, case-insensitive", Changes{ReplaceRecipients: []RecipientChange{{From: "A@EXAMPLE.COM", To: "z@x.test"}}},
			[]string{"z@x.test", "b@example.com"}, []string{"z@x.test"}},
		{"remove then add", Changes{RemoveRecipients: []string{"b@example.com"}, AddRecipients: []Recipient{{Addr: "b@example.com"}}},
			[]string{"a@example.com", "b@example.com"}, []string{"b@example.com"}},
		{"remove all", Changes{RemoveRecipients: []string{"a@example.com", "b@example.com"}}, nil, nil},
	}
	for _, tc := range cases {
		e := envelopeAfter(rcpts, &tc.ch)
		if !slices.Equal(e.Recipients, tc.all) || !slices.Equal(e.New, tc.new) {
			t.Errorf("%s: recipients %v new %v, want %v and %v", tc.name, e.Recipients, e.New, tc.all, tc.new)
		}
	}
	if rcpts[0].Addr != "a@example.com" {
		t.Errorf("the transaction's recipients were changed: %v", rcpts)
	}
	if e := envelopeAfter(rcpts, &Changes{}); e.Sender != nil {
		t.Errorf("sender %q without a sender change", *e.Sender)
	}
	null := ""
	if e := envelopeAfter(rcpts, &Changes{Sender: &null}); e.Sender == nil || *e.Sender != "" {
		t.Errorf("null sender change lost: %v", e.Sender)
	}
}

func TestLongestLine(t *testing.T) {
	for in, want := range map[string]int{"": 0, "abc": 3, "ab\r\nabcd\r\n": 4, "abcd\r\na": 4, "\r\n\r\n": 0} {
		if got := longestLine([]byte(in)); got != want {
			t.Errorf("longestLine(%q) = %d, want %d", in, got, want)
		}
	}
}

// measure must give the sizes of exactly what Apply writes.
func TestMeasureMatchesApply(t *testing.T) {
	multi := "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\nsecond\r\n--b--\r\n"
	cases := []struct {
		name, msg string
		ch        Changes
	}{
		{"add", simpleMsg, Changes{Headers: []HeaderChange{{Op: HeaderAdd, Name: "X-A", Value: "1"}}}},
		{"set and remove", simpleMsg, Changes{Headers: []HeaderChange{{Op: HeaderSet, Name: "Subject", Value: "a much longer subject"}, {Op: HeaderRemove, Name: "To"}}}},
		{"body", simpleMsg, Changes{ReplaceBody: true, Body: []byte("one\ntwo\r\n")}},
		{"root part", simpleMsg, Changes{Parts: []PartReplacement{{Path: "1", ContentType: "text/html; charset=utf-8", Content: []byte("<p>x</p>")}}}},
		{"inner part", multi, Changes{Parts: []PartReplacement{{Path: "2", ContentType: "text/plain", Disposition: "inline", Content: bytes.Repeat([]byte("z"), 3000)}}}},
		{"header-only message", "Subject: x\r\n", Changes{Headers: []HeaderChange{{Op: HeaderPrepend, Name: "X-B", Value: "2"}}}},
	}
	for _, tc := range cases {
		var out bytes.Buffer
		if err := Apply(&tc.ch, strings.NewReader(tc.msg), &out); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		header, total, err := measure(&tc.ch, testMessage(t, tc.msg))
		wantHeader := int64(bytes.Index(out.Bytes(), []byte("\r\n\r\n")) + 4)
		if err != nil || total != int64(out.Len()) || header != wantHeader {
			t.Errorf("%s: measured %d, %d (%v); Apply wrote %d with a header of %d", tc.name, header, total, err, out.Len(), wantHeader)
		}
	}
}

// TestOutputPolicy: a filter's changes over the relay's limits, or naming
// recipients its policy refuses, fail the filter: its on_error applies,
// none of its changes stand, and the failure is counted by kind.
func TestOutputPolicy(t *testing.T) {
	served := func(e EnvelopeChange) error {
		if e.Sender != nil && strings.ContainsFunc(*e.Sender, func(r rune) bool { return r >= 0x80 }) {
			return fmt.Errorf("sender <%s>: needs SMTPUTF8", *e.Sender)
		}
		for _, a := range e.New {
			if !strings.HasSuffix(a, "@example.com") && !e.Relay {
				return fmt.Errorf("relay access denied for <%s>", a)
			}
		}
		if len(e.Recipients) > 3 {
			return fmt.Errorf("%w: %d recipients (max_recipients 3)", ErrOverLimit, len(e.Recipients))
		}
		return nil
	}
	folded := strings.Repeat("x", 900) + "\r\n " + strings.Repeat("y", 900)
	relay := func(f *FilterSpec) { f.Grants = []string{"relay"} }
	onContinue := func(f *FilterSpec) { f.OnError = "continue" }
	cases := []struct {
		name    string
		changes []v
		mod     func(*FilterSpec)
		policy  Policy
		cont    bool   // on_error = "continue"
		kind    string // "": the changes stand
		reason  string
	}{
		{name: "body within max_message_size", changes: []v{{"op": "body", "value": strings.Repeat("b", 500)}}, policy: Policy{MaxMessageBytes: 1000}},
		{name: "body over max_message_size", changes: []v{{"op": "body", "value": strings.Repeat("b\r\n", 400)}}, policy: Policy{MaxMessageBytes: 1000},
			kind: ErrKindLimit, reason: "over limit: message of 1319 bytes (max_message_size 1000)"},
		{name: "header over max_header_size", changes: []v{{"op": "add", "name": "X-1", "value": folded}, {"op": "add", "name": "X-2", "value": folded}},
			policy: Policy{MaxHeaderBytes: 3000}, kind: ErrKindLimit, reason: "over limit: header of 3739 bytes (max_header_size 3000)"},
		{name: "body line of 998 bytes", changes: []v{{"op": "body", "value": strings.Repeat("l", 998) + "\r\n"}}},
		{name: "body line of 999 bytes", changes: []v{{"op": "body", "value": strings.Repeat("l", 999) + "\r\n"}},
			kind: ErrKindLimit, reason: "over limit: replaced body has a line of 999 bytes (at most 998)"},
		{name: "served recipient added", changes: []v{{"op": "add_rcpt", "value": "d@example.com"}}, policy: Policy{Envelope: served}},
		{name: "outside recipient added", changes: []v{{"op": "add_rcpt", "value": "victim@elsewhere.test"}}, policy: Policy{Envelope: served},
			kind: ErrKindPolicy, reason: "refused by relay policy: relay access denied for <victim@elsewhere.test>"},
		{name: "outside recipient renamed to", changes: []v{{"op": "replace_rcpt", "name": "alice@example.com", "value": "victim@[127.0.0.1]"}}, policy: Policy{Envelope: served},
			kind: ErrKindPolicy, reason: "refused by relay policy: relay access denied for <victim@[127.0.0.1]>"},
		{name: "outside recipient, relay granted", changes: []v{{"op": "add_rcpt", "value": "victim@elsewhere.test"}}, mod: relay, policy: Policy{Envelope: served}},
		{name: "outside recipient, on_error continue", changes: []v{{"op": "add_rcpt", "value": "victim@elsewhere.test"}, {"op": "add", "name": "X-A", "value": "1"}},
			mod: onContinue, cont: true, policy: Policy{Envelope: served}, kind: ErrKindPolicy, reason: "refused by relay policy: relay access denied for <victim@elsewhere.test>"},
		{name: "sender held to the policy", changes: []v{{"op": "sender", "value": "jörg@example.com"}}, policy: Policy{Envelope: served},
			kind: ErrKindPolicy, reason: "refused by relay policy: sender <jörg@example.com>: needs SMTPUTF8"},
		{name: "null sender", changes: []v{{"op": "sender", "value": ""}}, policy: Policy{Envelope: served}},
		{name: "too many recipients", changes: manyChanges("add_rcpt", 2), mod: relay, policy: Policy{Envelope: served},
			kind: ErrKindLimit, reason: "over limit: 4 recipients (max_recipients 3)"},
	}
	var filters []FilterSpec
	for i, tc := range cases {
		filters = append(filters, behave(t, fmt.Sprint("f", i), v{"changes": tc.changes}, tc.mod))
	}
	m := NewMetrics()
	dir := t.TempDir()
	shareCompilationCache(t, dir)
	h, err := NewHost(context.Background(), filters, HostOptions{DataDir: dir, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := h.Chain([]string{fmt.Sprint("f", i)})
			txn := testTxn()
			txn.Policy = tc.policy
			got, ch := c.DataWithRewrite(context.Background(), txn, testMessage(t, simpleMsg), nil)
			want := Verdict{Action: Continue}
			if tc.kind != "" {
				want = failTempfail
				want.Filter, want.Reason = fmt.Sprint("f", i), tc.reason
				if tc.cont { // the chain goes on, as if the filter had answered continue without changes
					want = Verdict{Action: Continue}
				}
			}
			if got != want {
				t.Errorf("verdict %+v\nwant    %+v", got, want)
			}
			if tc.kind != "" && !ch.Empty() {
				t.Errorf("the failed filter's changes stand: %+v", ch)
			}
			if tc.kind == "" && ch.Empty() {
				t.Errorf("the changes were dropped")
			}
			if tc.kind != "" {
				if n := scrape(t, m)[fmt.Sprintf(`sluice_filter_errors_total{filter="f%d",stage="data",kind=%q}`, i, tc.kind)]; n != 1 {
					t.Errorf("%d failures of kind %s counted, want 1", int(n), tc.kind)
				}
			}
		})
	}
	if !errors.Is(fmt.Errorf("%w: x", ErrOverLimit), ErrOverLimit) {
		t.Fatal("ErrOverLimit does not wrap")
	}
}

func TestFailureKindPolicy(t *testing.T) {
	for reason, kind := range map[string]string{
		reasonLimit + "message of 2 bytes (max_message_size 1)": ErrKindLimit,
		reasonPolicy + "relay access denied":                    ErrKindPolicy,
	} {
		if got := failureKind(reason); got != kind {
			t.Errorf("%q: %s, want %s", reason, got, kind)
		}
	}
}
