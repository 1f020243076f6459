package authmail

import (
	"errors"
	"testing"

	"github.com/sluice-mail/sluice/sdk"
)

// TestForgedAuthResults came from plugins/dkim with the code it tests; the
// header is the one its text parsed into.
func TestForgedAuthResults(t *testing.T) {
	h := sdk.Header{
		{Name: "Authentication-Results", Value: "other.example; dkim=pass"},
		{Name: "Authentication-Results", Value: "RELAY.test; dkim=pass header.d=bank.example"},
		{Name: "Authentication-Results", Value: "(sneaky) relay.test 1; spf=pass"},
		{Name: "Authentication-Results", Value: "relay.test.evil; spf=pass"},
		{Name: "Authentication-Results", Value: "relay.test"},
		{Name: "Authentication-Results", Value: "((nested) (x)) relay.test;garbage((("},
		{Name: "Authentication-Results", Value: "(unterminated relay.test;"},
		{Name: "Received", Value: "from client by relay.test; Mon, 1 Jan 2024 00:00:00 +0000"},
		{Name: "From", Value: "Alice <alice@example.com>"},
		{Name: "To", Value: "bob@example.org"},
		{Name: "Subject", Value: "a\r\n  folded subject"},
		{Name: "Message-ID", Value: "<1@example.com>"},
	}
	got := ForgedAuthResults(h, "relay.test")
	if want := []int{2, 3, 5, 6}; len(got) != len(want) || got[0] != 2 || got[1] != 3 || got[2] != 5 || got[3] != 6 {
		t.Errorf("forged ranks %v, want %v", got, want)
	}
}

// TestReason: each prefix goes once, in order, as the two filters' own
// reason functions did.
func TestReason(t *testing.T) {
	for _, tt := range []struct {
		err      string
		prefixes []string
		want     string
	}{
		{"dkim: dmarc: x", []string{"dkim: "}, "dmarc: x"},
		{"dkim: dmarc: x", []string{"dkim: ", "dmarc: "}, "x"},
		{"dmarc: dkim: x", []string{"dkim: ", "dmarc: "}, "dkim: x"},
		{"dkim: \"quoted\"\\ \x01 tail ", []string{"dkim: "}, "quoted     tail"},
		{string(make([]byte, 100)) + "x", nil, ""},
	} {
		if got := Reason(errors.New(tt.err), tt.prefixes...); got != tt.want {
			t.Errorf("Reason(%q, %q) = %q, want %q", tt.err, tt.prefixes, got, tt.want)
		}
	}
}
