package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/plugin"
	"github.com/sluice-mail/sluice/sdk"
	"github.com/sluice-mail/sluice/sdk/abi"
)

// buildMessage makes a multipart/mixed message: an alternative text+HTML
// body and a base64 PDF attachment. It returns the header and the body.
func buildMessage(t testing.TB, pdf []byte, html bool) (sdk.Header, []byte) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if html {
		alt := multipart.NewWriter(io.Discard)
		w, _ := mw.CreatePart(map[string][]string{"Content-Type": {"multipart/alternative; boundary=" + alt.Boundary()}})
		b := alt.Boundary()
		alt = multipart.NewWriter(w)
		alt.SetBoundary(b)
		p, _ := alt.CreatePart(map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}})
		p.Write([]byte("Hello, see the report.\r\n"))
		p, _ = alt.CreatePart(map[string][]string{"Content-Type": {"text/html; charset=utf-8"}})
		p.Write([]byte("<p>Hello, see the report.</p>\r\n"))
		alt.Close()
	} else {
		p, _ := mw.CreatePart(map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}})
		p.Write([]byte("Hello, see the report.\r\n"))
	}
	p, _ := mw.CreatePart(map[string][]string{
		"Content-Type":              {`application/pdf; name="report.pdf"`},
		"Content-Disposition":       {`attachment; filename="report.pdf"`},
		"Content-Transfer-Encoding": {"base64"},
	})
	enc := base64.StdEncoding.EncodeToString(pdf)
	for len(enc) > 76 {
		p.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	p.Write([]byte(enc + "\r\n"))
	mw.Close()
	h := sdk.Header{{Name: "From", Value: "a@example.com"}, {Name: "MIME-Version", Value: "1.0"},
		{Name: "Content-Type", Value: "multipart/mixed; boundary=" + mw.Boundary()}}
	return h, body.Bytes()
}

// eventParts lists the message's parts as the host's data event does.
func eventParts(t testing.TB, h sdk.Header, body []byte) []sdk.Part {
	var raw strings.Builder
	for _, f := range h {
		raw.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	raw.WriteString("\r\n")
	raw.Write(body)
	m, err := plugin.ReadMessage(strings.NewReader(raw.String()), int64(raw.Len()))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := plugin.MessageParts(m)
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

func fakeStore(got *[]byte) storeFunc {
	return func(p sdk.Part, filename, ct string, ttl time.Duration) (*sdk.BlobInfo, error) {
		sum := sha256.Sum256(*got)
		return &abi.BlobInfo{Token: "T", URL: "https://files.example/d/TOKEN/" + filename, Size: int64(len(*got)),
			SHA256: hex.EncodeToString(sum[:]), Expires: "2030-01-02T03:04:05Z"}, nil
	}
}

func TestPlanReplacesAttachment(t *testing.T) {
	pdf := bytes.Repeat([]byte("%PDF-1.7 binary\x00\xff"), 20000)
	for _, withHTML := range []bool{false, true} {
		t.Run(fmt.Sprint("html=", withHTML), func(t *testing.T) {
			h, body := buildMessage(t, pdf, withHTML)
			s, err := parseConfig([]byte(`{"max_size": "100KiB"}`))
			if err != nil {
				t.Fatal(err)
			}
			m := message{Txn: sdk.Txn{Recipients: []sdk.Recipient{{Addr: "b@example.org"}}}, Header: h,
				Parts: eventParts(t, h, body), Body: bytes.NewReader(body), BodySize: int64(len(body))}
			res, notes, err := plan(m, s, fakeStore(&pdf))
			if err != nil || res == nil {
				t.Fatalf("plan: %v %v", err, notes)
			}
			if len(res.Body) > 4000 {
				t.Errorf("new body is %d bytes: attachment not removed", len(res.Body))
			}
			// The result is a valid MIME message whose parts decode.
			raw := "Content-Type: " + h.Get("Content-Type") + "\r\n\r\n" + string(res.Body)
			msg, err := mail.ReadMessage(strings.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			texts := walk(t, msg.Header.Get("Content-Type"), msg.Body)
			joined := strings.Join(texts, "\n---\n")
			sum := sha256.Sum256(pdf)
			for _, want := range []string{"Hello, see the report.", "report.pdf", "https://files.example/d/TOKEN/report.pdf", hex.EncodeToString(sum[:]), "2030-01-02 03:04 UTC"} {
				if !strings.Contains(joined, want) {
					t.Errorf("notice lacks %q:\n%s", want, joined)
				}
			}
			if got := strings.Contains(joined, `<a href="https://files.example/d/TOKEN/report.pdf">`); got != withHTML {
				t.Errorf("HTML notice present=%v, want %v", got, withHTML)
			}
		})
	}
}

// walk returns the decoded text of every leaf part.
func walk(t *testing.T, ct string, r io.Reader) []string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		t.Fatalf("content type %q: %v", ct, err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(r)
		return []string{string(b)}
	}
	var out []string
	mr := multipart.NewReader(r, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, walk(t, p.Header.Get("Content-Type"), p)...) // multipart.Part decodes quoted-printable
	}
}

func TestPlanSkips(t *testing.T) {
	pdf := make([]byte, 200_000)
	h, body := buildMessage(t, pdf, false)
	parts := eventParts(t, h, body)
	m := message{Txn: sdk.Txn{Recipients: []sdk.Recipient{{Addr: "b@example.org"}}}, Header: h, Parts: parts,
		Body: bytes.NewReader(body), BodySize: int64(len(body))}
	s, _ := parseConfig([]byte(`{"max_size": 1000000}`))
	if res, _, _ := plan(m, s, fakeStore(&pdf)); res != nil {
		t.Error("small attachment converted")
	}
	s, _ = parseConfig([]byte(`{"max_size": 1000000, "types": ["application/*"]}`))
	if res, _, _ := plan(m, s, fakeStore(&pdf)); res == nil {
		t.Error("listed type not converted")
	}
	s, _ = parseConfig([]byte(`{"extensions": [".pdf"], "exempt_domains": ["example.org"]}`))
	if res, notes, _ := plan(m, s, fakeStore(&pdf)); res != nil || !strings.Contains(notes[0], "exempt") {
		t.Errorf("exempt recipient: %v", notes)
	}
	signed := m
	signed.Header = append(sdk.Header{{Name: "DKIM-Signature", Value: "v=1; h=from"}}, h...)
	s, _ = parseConfig([]byte(`{"extensions": [".pdf"]}`))
	if res, notes, _ := plan(signed, s, fakeStore(&pdf)); res != nil || !strings.Contains(notes[0], "DKIM") {
		t.Errorf("DKIM-signed: %v", notes)
	}
	s, _ = parseConfig([]byte(`{"extensions": [".pdf"], "dkim": "convert"}`))
	if res, _, _ := plan(signed, s, fakeStore(&pdf)); res == nil {
		t.Error("dkim=convert did not convert")
	}
	failing := func(sdk.Part, string, string, time.Duration) (*sdk.BlobInfo, error) { return nil, sdk.ErrTooLarge }
	if res, notes, err := plan(m, s, failing); res != nil || err != nil || !strings.Contains(notes[0], "storing it failed") {
		t.Errorf("failed store: %v %v", notes, err)
	}
}

func TestBadConfig(t *testing.T) {
	for js, want := range map[string]string{
		`{"max_size": "lots"}`:    "max_size",
		`{"max_size": -1}`:        "max_size",
		`{"types": ["pdf"]}`:      "not a media type",
		`{"extensions": ["exe"]}`: "want a dot",
		`{"ttl": "soon"}`:         "ttl",
		`{"dkim": "sign"}`:        "skip or convert",
		`{"maxsize": 1}`:          "unknown field",
	} {
		if _, err := parseConfig([]byte(js)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", js, err, want)
		}
	}
}

// TestPartSpansRefusesBadRanges: byte ranges that do not fit the body or
// the part's size (or are missing, from an older host) stop the conversion
// instead of cutting the wrong bytes.
func TestPartSpansRefusesBadRanges(t *testing.T) {
	h, body := buildMessage(t, []byte("pdf bytes"), true)
	good := eventParts(t, h, body)
	if _, err := partSpans(good, int64(len(body))); err != nil {
		t.Fatalf("host's own parts refused: %v", err)
	}
	for name, spoil := range map[string]func(p *sdk.Part){
		"no ranges (older host)": func(p *sdk.Part) { p.HeaderStart, p.BodyStart, p.End = 0, 0, 0 },
		"end past the body":      func(p *sdk.Part) { p.End += int64(len(body)) },
		"size disagrees":         func(p *sdk.Part) { p.Size++ },
		"header after content":   func(p *sdk.Part) { p.HeaderStart = p.BodyStart + 1 },
		"negative":               func(p *sdk.Part) { p.HeaderStart = -1 },
	} {
		parts := slices.Clone(good)
		spoil(&parts[len(parts)-1])
		if _, err := partSpans(parts, int64(len(body))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPlanLeavesWholeWhatCannotBeSent: when the body left after the
// replacements would not fit the host's result (16 MiB, the body
// base64-encoded), the message passes whole with a note, and nothing is
// stored: before, the filter stored the attachment, answered a result the
// host refused, and the message was tempfailed at every retry.
func TestPlanLeavesWholeWhatCannotBeSent(t *testing.T) {
	pdf := []byte("%PDF-1.7 small")
	h, body := buildMessage(t, pdf, false)
	// A large attachment under the size threshold stays in the message.
	big := bytes.Repeat([]byte("0123456789abcdef"), (maxResultBody/16)*3/4+1024)
	boundary := strings.TrimPrefix(h.Get("Content-Type"), "multipart/mixed; boundary=")
	enc := base64.StdEncoding.EncodeToString(big)
	var keep strings.Builder
	keep.WriteString("--" + boundary + "\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"keep.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		keep.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	keep.WriteString(enc + "\r\n")
	closing := []byte("--" + boundary + "--")
	i := bytes.LastIndex(body, closing)
	body = append(append(append([]byte(nil), body[:i]...), keep.String()...), body[i:]...)
	if len(body) <= maxResultBody {
		t.Fatalf("test body of %d bytes fits the result", len(body))
	}
	m := message{Txn: sdk.Txn{Recipients: []sdk.Recipient{{Addr: "b@example.org"}}}, Header: h, Parts: eventParts(t, h, body),
		Body: bytes.NewReader(body), BodySize: int64(len(body))}
	s, err := parseConfig([]byte(`{"max_size": "100MiB", "types": ["application/pdf"]}`))
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	store := func(p sdk.Part, filename, ct string, ttl time.Duration) (*sdk.BlobInfo, error) {
		stored++
		return fakeStore(&pdf)(p, filename, ct, ttl)
	}
	res, notes, err := plan(m, s, store)
	if err != nil || res != nil || stored != 0 {
		t.Fatalf("plan: result %v, err %v, %d stored; want the message left whole, nothing stored", res != nil, err, stored)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "left whole") {
		t.Errorf("notes %q", notes)
	}
	// The same message with the large attachment linked too fits.
	s, _ = parseConfig([]byte(`{"max_size": "1MiB", "types": ["application/pdf"]}`))
	if res, notes, err := plan(m, s, store); err != nil || res == nil || stored != 2 {
		t.Errorf("plan with both linked: result %v, %v, %v, %d stored", res != nil, notes, err, stored)
	}
}
