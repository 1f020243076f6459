package dsn

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

const original = "Received: from client.example\r\nFrom: <alice@example.com>\r\nSubject: hello\r\n\r\nbody line 1\r\nbody line 2\r\n"

// parsed is a DSN read back with go-message.
type parsed struct {
	header     message.Header
	types      []string // Content-Type of each part
	human      string
	perMessage textproto.Header
	perRcpt    []textproto.Header
	original   string
}

func parse(t *testing.T, raw []byte) *parsed {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("bare LF in the report")
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	p := &parsed{header: e.Header}
	mt, params, _ := e.Header.ContentType()
	if mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("top-level Content-Type %q %v", mt, params)
	}
	mr := e.MultipartReader()
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := part.Header.ContentType()
		p.types = append(p.types, ct)
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatal(err)
		}
		switch ct {
		case "text/plain":
			p.human = string(body)
		case "message/delivery-status":
			br := bufio.NewReader(bytes.NewReader(body))
			h, err := textproto.ReadHeader(br)
			if err != nil {
				t.Fatal(err)
			}
			p.perMessage = h
			for {
				if _, err := br.Peek(1); err == io.EOF {
					break
				}
				h, err := textproto.ReadHeader(br)
				if err != nil {
					t.Fatal(err)
				}
				p.perRcpt = append(p.perRcpt, h)
			}
		default:
			p.original = string(body)
		}
	}
	return p
}

func build(t *testing.T, r *Report, orig string) (*parsed, Result) {
	t.Helper()
	var buf bytes.Buffer
	res, err := Build(&buf, r, strings.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, buf.Bytes()), res
}

func TestBuildFailure(t *testing.T) {
	arrival := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	last := arrival.Add(time.Minute)
	r := &Report{
		Hostname: "mx.example.net", To: "alice@example.com", EnvID: "QQ314159", Arrival: arrival,
		ReceivedFrom: "client.example",
		Recipients: []Recipient{
			{Addr: "bob@example.org", ORcpt: "rfc822;Bob@Example.org", Action: Failed, Reply: "550 5.1.1 no such user", LastAttempt: last},
			{Addr: "carol@example.org", Action: Failed, Reply: "expired after 120h0m0s: 451 4.4.1 no answer", LastAttempt: last},
			{Addr: "dave@example.org", Action: Failed, Reply: "dial tcp: connection refused"},
		},
	}
	p, res := build(t, r, original)
	if res.EightBit || res.UTF8 || res.Truncated {
		t.Errorf("result %+v", res)
	}
	if want := []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}; strings.Join(p.types, ",") != strings.Join(want, ",") {
		t.Errorf("parts %v, want %v", p.types, want)
	}
	for k, want := range map[string]string{
		"From": "Mail Delivery System <MAILER-DAEMON@mx.example.net>", "To": "<alice@example.com>",
		"Auto-Submitted": "auto-replied", "Subject": "Undelivered Mail Returned to Sender", "Mime-Version": "1.0",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !strings.HasSuffix(p.header.Get("Message-Id"), "@mx.example.net>") {
		t.Errorf("Message-Id %q", p.header.Get("Message-Id"))
	}
	for k, want := range map[string]string{
		"Reporting-MTA": "dns; mx.example.net", "Original-Envelope-Id": "QQ314159",
		"Arrival-Date": "Sat, 01 Mar 2025 10:00:00 +0000", "Received-From-MTA": "dns; client.example",
	} {
		if got := p.perMessage.Get(k); got != want {
			t.Errorf("per-message %s: %q, want %q", k, got, want)
		}
	}
	if len(p.perRcpt) != 3 {
		t.Fatalf("%d recipient blocks, want 3", len(p.perRcpt))
	}
	want := []map[string]string{
		{"Final-Recipient": "rfc822; bob@example.org", "Original-Recipient": "rfc822;Bob@Example.org", "Action": "failed",
			"Status": "5.1.1", "Diagnostic-Code": "smtp; 550 5.1.1 no such user", "Last-Attempt-Date": "Sat, 01 Mar 2025 10:01:00 +0000"},
		{"Final-Recipient": "rfc822; carol@example.org", "Original-Recipient": "", "Action": "failed", "Status": "4.4.7",
			"Diagnostic-Code": "smtp; 451 4.4.1 no answer"},
		{"Final-Recipient": "rfc822; dave@example.org", "Action": "failed", "Status": "5.0.0", "Diagnostic-Code": "", "Last-Attempt-Date": ""},
	}
	for i, w := range want {
		for k, v := range w {
			if got := p.perRcpt[i].Get(k); got != v {
				t.Errorf("recipient %d %s: %q, want %q", i, k, got, v)
			}
		}
	}
	if p.original != "Received: from client.example\r\nFrom: <alice@example.com>\r\nSubject: hello\r\n" {
		t.Errorf("returned header %q", p.original)
	}
	if !strings.Contains(p.human, "<bob@example.org>:") || !strings.Contains(p.human, "550 5.1.1 no such user") {
		t.Errorf("human part:\n%s", p.human)
	}
}

func TestBuildReturnFull(t *testing.T) {
	r := &Report{Hostname: "mx.example.net", To: "alice@example.com", Return: "FULL",
		Recipients: []Recipient{{Addr: "bob@example.org", Action: Failed, Reply: "550 no"}}}
	p, res := build(t, r, original)
	if p.types[2] != "message/rfc822" || p.original != original || res.Truncated {
		t.Errorf("RET=FULL returned %s %q (%+v)", p.types[2], p.original, res)
	}
	if got := p.perRcpt[0].Get("Status"); got != "5.0.0" {
		t.Errorf("Status %q for a reply without enhanced code", got)
	}

	// Over the cap: header only, and the human part says so.
	r.MaxFull = 40
	p, res = build(t, r, original)
	if p.types[2] != "text/rfc822-headers" || !res.Truncated || !strings.Contains(p.human, "too large") {
		t.Errorf("capped RET=FULL returned %s, %+v", p.types[2], res)
	}
	if !strings.HasPrefix(p.original, "Received: from client.example\r\n") || strings.Contains(p.original, "body") {
		t.Errorf("capped original %q", p.original)
	}
}

func TestBuildDelayedAndDelivered(t *testing.T) {
	until := time.Date(2025, 3, 6, 10, 0, 0, 0, time.UTC)
	r := &Report{Hostname: "mx.example.net", To: "alice@example.com",
		Recipients: []Recipient{{Addr: "bob@example.org", Action: Delayed, Reply: "451 4.7.1 greylisted", WillRetryUntil: until}}}
	p, _ := build(t, r, original)
	if got := p.header.Get("Subject"); got != "Delayed Mail (still being retried)" {
		t.Errorf("Subject %q", got)
	}
	if b := p.perRcpt[0]; b.Get("Action") != "delayed" || b.Get("Status") != "4.7.1" || b.Get("Will-Retry-Until") != "Thu, 06 Mar 2025 10:00:00 +0000" {
		t.Errorf("delayed block %v", b.Map())
	}
	r.Recipients = []Recipient{{Addr: "bob@example.org", Action: Delivered, Reply: "250 2.0.0 ok queued as 12"}}
	p, _ = build(t, r, original)
	if b := p.perRcpt[0]; b.Get("Action") != "delivered" || b.Get("Status") != "2.0.0" || p.header.Get("Subject") != "Successful Mail Delivery Report" {
		t.Errorf("delivered block %v", b.Map())
	}
}

// Values from a hostile peer or client cannot add fields or lines.
func TestBuildHostileValues(t *testing.T) {
	r := &Report{Hostname: "mx.example.net", To: "alice@example.com", EnvID: "x\r\nAction: delivered",
		Recipients: []Recipient{{Addr: "bob@example.org", Action: Failed,
			Reply: "550 5.1.1 " + strings.Repeat("x", 5000) + "\r\nStatus: 2.0.0\n\xff"}}}
	var buf bytes.Buffer
	orig := "X: " + strings.Repeat("h", 100<<10) + "\r\nno colon and no blank line \xc3"
	if _, err := Build(&buf, r, strings.NewReader(orig)); err != nil {
		t.Fatal(err)
	}
	p := parse(t, buf.Bytes())
	if len(p.perRcpt) != 1 || len(p.perRcpt[0].Values("Status")) != 1 || p.perRcpt[0].Get("Status") != "5.1.1" {
		t.Fatalf("recipient blocks %v", p.perRcpt)
	}
	if p.perMessage.Has("Action") {
		t.Error("ENVID injected a field")
	}
	for _, line := range strings.Split(buf.String(), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line of %d bytes", len(line))
		}
	}
	if _, err := Build(&buf, &Report{Hostname: "h", To: "a@b"}, strings.NewReader("")); err == nil {
		t.Error("report without recipients built")
	}
}

func TestBuildUTF8(t *testing.T) {
	r := &Report{Hostname: "mx.example.net", To: "élodie@example.com",
		Recipients: []Recipient{{Addr: "bjørn@example.org", Action: Failed, Reply: "550 no"}}}
	p, res := build(t, r, "Subject: caf\xc3\xa9\r\n\r\nx\r\n")
	if !res.UTF8 || !res.EightBit {
		t.Errorf("result %+v", res)
	}
	if got := p.perRcpt[0].Get("Final-Recipient"); got != "utf-8; bjørn@example.org" {
		t.Errorf("Final-Recipient %q", got)
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		a               Action
		reply, explicit string
		want            string
	}{
		{Failed, "550 5.7.1 denied", "", "5.7.1"},
		{Failed, "550 4.7.1 inconsistent", "", "5.0.0"},
		{Failed, "554-5.0.0 multi", "", "5.0.0"},
		{Failed, "", "5.3.0", "5.3.0"},
		{Failed, "", "9.9.9", "5.0.0"},
		{Delayed, "421 busy", "", "4.0.0"},
		{Delayed, "connection refused", "", "4.0.0"},
		{Delivered, "250 2.6.0 ok", "", "2.6.0"},
		{Failed, "expired after 1h: x", "", "4.4.7"},
		{Failed, "55", "", "5.0.0"},
	}
	for _, tt := range tests {
		if got := Status(tt.a, tt.reply, tt.explicit); got != tt.want {
			t.Errorf("Status(%s, %q, %q) = %q, want %q", tt.a, tt.reply, tt.explicit, got, tt.want)
		}
	}
}
