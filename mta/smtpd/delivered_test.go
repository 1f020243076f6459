package smtpd

import "testing"

func TestSplitReply(t *testing.T) {
	tests := []struct {
		in        string
		code      int
		enh, text string
	}{
		{"250 2.0.0 OK queued", 250, "2.0.0", "OK queued"},
		{"550 5.1.1 no such user", 550, "5.1.1", "no such user"},
		{"451 try later", 451, "", "try later"},
		{"dial tcp: connection refused", 0, "", "dial tcp: connection refused"},
		{"", 0, "", ""},
		{"999 9.9.9 odd", 0, "", "999 9.9.9 odd"},
	}
	for _, tt := range tests {
		code, enh, text := splitReply(tt.in)
		if code != tt.code || enh != tt.enh || text != tt.text {
			t.Errorf("splitReply(%q) = %d %q %q", tt.in, code, enh, text)
		}
	}
}
