package trace

import (
	"crypto/tls"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestKeyword(t *testing.T) {
	tests := []struct {
		t    Transmission
		want string
	}{
		{Transmission{}, "SMTP"},
		{Transmission{Extended: true}, "ESMTP"},
		{Transmission{Extended: true, TLS: true}, "ESMTPS"},
		{Transmission{Extended: true, Auth: true}, "ESMTPA"},
		{Transmission{Extended: true, TLS: true, Auth: true}, "ESMTPSA"},
		{Transmission{TLS: true}, "ESMTPS"}, // STARTTLS is an extension
		{Transmission{LMTP: true, Extended: true}, "LMTP"},
		{Transmission{LMTP: true, Extended: true, TLS: true}, "LMTPS"},
		{Transmission{LMTP: true, Extended: true, Auth: true}, "LMTPA"},
		{Transmission{LMTP: true, Extended: true, TLS: true, Auth: true}, "LMTPSA"},
		{Transmission{Extended: true, UTF8: true}, "UTF8SMTP"},
		{Transmission{Extended: true, UTF8: true, TLS: true}, "UTF8SMTPS"},
		{Transmission{Extended: true, UTF8: true, Auth: true}, "UTF8SMTPA"},
		{Transmission{Extended: true, UTF8: true, TLS: true, Auth: true}, "UTF8SMTPSA"},
		{Transmission{LMTP: true, UTF8: true}, "UTF8LMTP"},
		{Transmission{LMTP: true, UTF8: true, TLS: true, Auth: true}, "UTF8LMTPSA"},
	}
	for _, tt := range tests {
		if got := Keyword(tt.t); got != tt.want {
			t.Errorf("Keyword(%+v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}

func TestHeader(t *testing.T) {
	date := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		stamp Stamp
		want  []string
		not   []string
	}{
		{
			name: "plain v4 single recipient",
			stamp: Stamp{Helo: "client.example", ClientIP: netip.MustParseAddr("192.0.2.1"), By: "mx.example",
				With: Transmission{Extended: true}, ID: "Q1", For: "a@b.example", Date: date},
			want: []string{"Received: from client.example ([192.0.2.1])\r\n", "\tby mx.example (sluice) with ESMTP\r\n",
				"\tid Q1\r\n", "\tfor <a@b.example>;\r\n", "\tWed, 25 Nov 2026 10:00:00 +0000\r\n"},
		},
		{
			name: "v6 tls no for",
			stamp: Stamp{Helo: "c", ClientIP: netip.MustParseAddr("::1"), By: "mx",
				With: Transmission{Extended: true, TLS: true}, TLS: &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256},
				ID: "Q2", Date: date},
			want: []string{"([IPv6:::1])", "with ESMTPS (TLS 1.3 TLS_AES_128_GCM_SHA256)"},
			not:  []string{"for <"},
		},
		{
			name: "hostile helo cannot inject",
			stamp: Stamp{Helo: "evil\r\nReceived: (with ESMTPSA); x", ClientIP: netip.MustParseAddr("10.0.0.1"), By: "mx",
				ID: "Q3", Date: date},
			want: []string{"from evil__Received:__with_ESMTPSA___x ([10.0.0.1])", "with SMTP\r\n"},
		},
		{
			name:  "unix socket",
			stamp: Stamp{Helo: "local", By: "mx", With: Transmission{LMTP: true}, ID: "Q4", Date: date},
			want:  []string{"(local)", "with LMTP"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.stamp.Header()
			for _, w := range tt.want {
				if !strings.Contains(h, w) {
					t.Errorf("header %q lacks %q", h, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(h, n) {
					t.Errorf("header %q has %q", h, n)
				}
			}
			// Exactly one header field: every line after the first is folded.
			lines := strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n")
			for _, l := range lines[1:] {
				if !strings.HasPrefix(l, "\t") {
					t.Errorf("unfolded continuation line %q", l)
				}
			}
			if strings.Count(h, "\n") != strings.Count(h, "\r\n") {
				t.Errorf("bare LF in %q", h)
			}
		})
	}
}

func BenchmarkReceivedHeader(b *testing.B) {
	st := &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}
	s := Stamp{Helo: "client.example", ClientIP: netip.MustParseAddr("192.0.2.1"), By: "mx.example",
		With: Transmission{Extended: true, TLS: true}, TLS: st, ID: "0123456789abcdef", For: "a@b.example", Date: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Header()
	}
}
