package sdk

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// checkEncode fails unless appendResult writes what encoding/json writes.
func checkEncode(t testing.TB, r *abi.Result) {
	t.Helper()
	want, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got := appendResult([]byte("prefix"), r)
	if string(got) != "prefix"+string(want) {
		t.Fatalf("appendResult:  %s\nencoding/json: prefix%s", got, want)
	}
}

var oddStrings = []string{"", "plain", `"quoted" \back\slash/`, "<b>&amp;</b>", "ctl \x00\x01\b\f\n\r\t\x1f\x7f end",
	"é ü 中文 😀", "\u2028\u2029", "bad \xff \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82", "\xf0\x9f\x98", strings.Repeat("long<>", 5000)}

func TestAppendResultSameAsEncodingJSON(t *testing.T) {
	for _, s := range oddStrings {
		sender := s
		body := []byte(s)
		empty := []byte{}
		var nilBody []byte
		results := []abi.Result{
			{Action: s},
			{Action: abi.ActionReject, Code: 550, Enhanced: "5.7.1", Text: s},
			{Action: abi.ActionTempfail, Code: -451, Enhanced: s},
			{Action: abi.ActionContinue, Changes: &abi.Changes{}},
			{Action: abi.ActionContinue, Changes: &abi.Changes{Sender: &sender, Body: &nilBody}},
			{Action: abi.ActionContinue, Changes: &abi.Changes{Body: &empty, Headers: []abi.HeaderChange{}}},
			{Action: abi.ActionContinue, Changes: &abi.Changes{
				Headers: []abi.HeaderChange{{Op: abi.HeaderAdd, Name: s, Value: s}, {Op: abi.HeaderRemove, Name: "X", Index: 2}, {Op: s}},
				Sender:  &sender, AddRecipients: []abi.Recipient{{Addr: s}, {Addr: "a", Params: map[string]string{"Z": s, "A": "1", s: "k"}}, {Addr: "b", Params: map[string]string{}}},
				RemoveRecipients: []string{s, "x"}, ReplaceRecipients: []abi.RecipientReplace{{From: s, To: "t"}},
				Reroute: []abi.Reroute{{Rcpt: "r", Route: s}}, Body: &body,
				Parts: []abi.PartReplace{{Path: "1", ContentType: s, Disposition: s, Body: body}, {Path: "2", Body: nil}, {Path: "3", Body: []byte{}}}}},
			{Action: abi.ActionContinue, Changes: &abi.Changes{RemoveRecipients: []string{}, Parts: []abi.PartReplace{{Path: s}}}},
		}
		for i := range results {
			checkEncode(t, &results[i])
		}
	}
}

func FuzzAppendResult(f *testing.F) {
	for _, s := range oddStrings[:9] {
		f.Add(s, 550, s, []byte(s), true)
	}
	f.Fuzz(func(t *testing.T, s string, code int, v string, body []byte, withChanges bool) {
		r := abi.Result{Action: s, Code: code, Enhanced: v, Text: s}
		if withChanges {
			r.Changes = &abi.Changes{Headers: []abi.HeaderChange{{Op: s, Name: v, Value: s, Index: code}}, Sender: &v, Body: &body,
				AddRecipients: []abi.Recipient{{Addr: s, Params: map[string]string{s: v, v: s}}}, Parts: []abi.PartReplace{{Path: v, Body: body}}}
		}
		checkEncode(t, &r)
	})
}
