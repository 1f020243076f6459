package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/wasmtest"
)

// TestEndToEnd sends unsigned mail from 127.0.0.1 through a live relay
// running spf-dmarc against a DNS stub, one sender domain per case.
func TestEndToEnd(t *testing.T) {
	txt := map[string]string{
		"pass.example":              "v=spf1 ip4:127.0.0.0/8 -all",
		"fail.example":              "v=spf1 ip4:192.0.2.1 -all",
		"soft.example":              "v=spf1 ip4:192.0.2.1 ~all",
		"none.example":              "not an spf record",
		"reject.example":            "v=spf1 ip4:192.0.2.1 -all",
		"_dmarc.reject.example":     "v=DMARC1; p=reject",
		"quarantine.example":        "v=spf1 ip4:192.0.2.1 -all",
		"_dmarc.quarantine.example": "v=DMARC1; p=quarantine",
		"sampled.example":           "v=spf1 ip4:192.0.2.1 -all",
		"_dmarc.sampled.example":    "v=DMARC1; p=reject; pct=0",
		"tagged.example":            "v=spf1 ip4:192.0.2.1 -all",
		"_dmarc.tagged.example":     "v=DMARC1; p=reject",
		"aligned.example":           "v=spf1 ip4:127.0.0.1 -all",
		"_dmarc.aligned.example":    "v=DMARC1; p=reject",
	}
	conf, _ := json.Marshal(map[string]any{"authserv_id": "relay.test", "domains": map[string]string{"tagged.example": "tag"}})
	for k, v := range idnZone {
		txt[k] = v
	}
	sink := relaytest.StartSink(t, false, nil)
	r := relaytest.StartRelay(t, fmt.Sprintf(`filter "auth" {
  wasm = %q
  stages = ["data"]
  grants = ["dns"]
  resolver = %q
  timeout = "10s"
  config = %s
}
domain "remote.test" {
  filters = ["auth"]
  deliver "smtp" {
    address = %q
    tls = "none"
  }
}
`, wasmtest.Build(t, "plugins/spf-dmarc"), dnstest.TXT(t, txt), conf, sink.Addr))

	delivered := 0
	t.Run("IDN From without SMTPUTF8", func(t *testing.T) {
		for _, tt := range idnCases {
			rc := relaytest.DialRaw(t, r.Addr("smtp"))
			rc.Cmd("EHLO client.test", 250)
			rc.Cmd("MAIL FROM:<a@"+tt.mailFrom+">", 250)
			rc.Cmd("RCPT TO:<bob@remote.test>", 250)
			rc.Cmd("DATA", 354)
			rc.Send("From: <a@" + tt.from + ">\r\nTo: bob@remote.test\r\nSubject: " + tt.mailFrom + "\r\n\r\nhello\r\n.\r\n")
			if got := rc.Expect(tt.code); tt.code != 250 {
				if !strings.Contains(got, "5.7.1") {
					t.Errorf("%s: reply %q, want the DMARC policy's", tt.from, got)
				}
				rc.Cmd("QUIT", 221)
				continue
			}
			rc.Cmd("QUIT", 221)
			delivered++
			got := sink.WaitMessages(t, delivered)[delivered-1].Data
			ar := strings.ReplaceAll(got, "\r\n\t", " ")
			for _, w := range tt.want {
				if !strings.Contains(ar, w) {
					t.Errorf("%s: Authentication-Results lacks %q:\n%s", tt.from, w, got)
				}
			}
		}
	})
	for _, tt := range []struct {
		domain string
		code   int      // DATA reply
		where  string   // "sink", "quarantine" or ""
		want   []string // in the Authentication-Results
	}{
		{"pass.example", 250, "sink", []string{"spf=pass smtp.mailfrom=a@pass.example", "dmarc=none"}},
		{"fail.example", 250, "sink", []string{"spf=fail"}},
		{"soft.example", 250, "sink", []string{"spf=softfail"}},
		{"none.example", 250, "sink", []string{"spf=none"}},
		{"aligned.example", 250, "sink", []string{"spf=pass", "dmarc=pass header.from=aligned.example"}},
		{"reject.example", 550, "", nil},
		{"quarantine.example", 250, "quarantine", []string{"spf=fail", "dmarc=fail", "p=quarantine"}},
		{"sampled.example", 250, "quarantine", []string{"dmarc=fail", "p=quarantine"}}, // pct=0: reject becomes quarantine
		{"tagged.example", 250, "sink", []string{"dmarc=fail", "p=reject"}},            // operator override: tag only
	} {
		t.Run(tt.domain, func(t *testing.T) {
			rc := relaytest.DialRaw(t, r.Addr("smtp"))
			rc.Cmd("EHLO client.test", 250)
			rc.Cmd("MAIL FROM:<a@"+tt.domain+">", 250)
			rc.Cmd("RCPT TO:<bob@remote.test>", 250)
			rc.Cmd("DATA", 354)
			rc.Send("From: <a@" + tt.domain + ">\r\nTo: bob@remote.test\r\nSubject: " + tt.domain + "\r\n" +
				"Authentication-Results: relay.test; spf=pass smtp.mailfrom=forged\r\n" +
				"Authentication-Results: other.example; spf=pass\r\n\r\nhello\r\n.\r\n")
			if got := rc.Expect(tt.code); tt.code == 550 && !strings.Contains(got, "5.7.1") {
				t.Errorf("reply %q", got)
			}
			rc.Cmd("QUIT", 221)
			var got string
			switch tt.where {
			case "sink":
				delivered++
				got = sink.WaitMessages(t, delivered)[delivered-1].Data
			case "quarantine":
				got = quarantined(t, r, tt.domain)
			default:
				return
			}
			ar := strings.ReplaceAll(got, "\r\n\t", " ")
			if !strings.Contains(ar, "Authentication-Results: relay.test;") {
				t.Fatalf("no Authentication-Results:\n%s", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(ar, w) {
					t.Errorf("Authentication-Results lacks %q:\n%s", w, got)
				}
			}
			if strings.Contains(got, "smtp.mailfrom=forged") || !strings.Contains(got, "Authentication-Results: other.example; spf=pass") {
				t.Errorf("forged A-R kept or foreign one removed:\n%s", got)
			}
		})
	}
}

// quarantined returns the quarantined message whose Subject is subject.
func quarantined(t *testing.T, r *relaytest.Relay, subject string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(r.Queue.QuarantineDir(), "*.msg"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), "\r\nSubject: "+subject+"\r\n") {
			return string(b)
		}
	}
	t.Fatalf("no quarantined message %q among %d", subject, len(files))
	return ""
}

// idnZone publishes SPF and DMARC for an internationalized domain, under
// its A-labels only, as DNS holds it.
var idnZone = map[string]string{
	"xn--bcher-kva.example":        "v=spf1 ip4:127.0.0.0/8 -all",
	"_dmarc.xn--bcher-kva.example": "v=DMARC1; p=reject",
	"xn--maana-pta.example":        "v=spf1 ip4:192.0.2.1 -all",
	"_dmarc.xn--maana-pta.example": "v=DMARC1; p=reject",
}

// idnCases send mail whose From names a domain in U-labels, in a
// transaction without SMTPUTF8 (MAIL FROM in A-labels, as it must be):
// the verdict is the DMARC policy's, found under the A-labels, and the
// Authentication-Results name the domain in A-labels, never raw UTF-8,
// which the host refuses in such a message.
var idnCases = []struct {
	from, mailFrom string
	code           int
	want           []string
}{
	{"bücher.example", "xn--bcher-kva.example", 250, []string{
		"spf=pass smtp.mailfrom=a@xn--bcher-kva.example", "dmarc=pass header.from=xn--bcher-kva.example"}},
	{"BÜCHER.Example", "XN--BCHER-KVA.example", 250, []string{"dmarc=pass header.from=xn--bcher-kva.example"}},
	{"mañana.example", "xn--maana-pta.example", 550, nil},
}
