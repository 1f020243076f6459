package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/internal/s3test"
	"github.com/sluice-mail/sluice/internal/wasmtest"
	"github.com/sluice-mail/sluice/sdk"
)

func filterBlock(name, wasm, conf string) string {
	return fmt.Sprintf("filter %q {\n  wasm = %q\n  timeout = \"60s\"\n  grants = [\"blob\"]\n  config = %s\n}\n", name, wasm, conf)
}

func domainBlock(name, sink, filter string) string {
	return fmt.Sprintf("domain %q {\n  filters = [%q]\n  deliver \"smtp\" {\n    address = %q\n    tls = \"none\"\n  }\n}\n", name, filter, sink)
}

var linkRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+/d/[A-Za-z0-9_-]{32}/report\.pdf`)

func send(t *testing.T, r *relaytest.Relay, rcpt string, header sdk.Header, body []byte) {
	t.Helper()
	rc := relaytest.DialRaw(t, r.Addr("smtp"))
	rc.Cmd("EHLO client.test", 250)
	rc.Cmd("MAIL FROM:<a@example.com>", 250)
	rc.Cmd("RCPT TO:<"+rcpt+">", 250)
	rc.Cmd("DATA", 354)
	var b strings.Builder
	b.WriteString("Subject: report\r\n")
	for _, f := range header {
		b.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	rc.Send(strings.ReplaceAll(b.String(), "\r\n.", "\r\n..") + ".\r\n")
	rc.Expect(250)
	rc.Cmd("QUIT", 221)
}

// TestRelayAttachmentLink: a 5 MB PDF sent through a live relay reaches
// the sink as a link; the download returns the identical bytes with the
// right headers, a range request works, and a link past its ttl gives the
// same 404 as an unknown token and its files are gone.
func TestRelayAttachmentLink(t *testing.T) {
	linksDir := t.TempDir()
	testAttachmentLink(t, fmt.Sprintf("dir = %q", linksDir), func() int {
		files, _ := filepath.Glob(filepath.Join(linksDir, "*.data"))
		return len(files)
	})
}

// TestRelayAttachmentLinkS3 is TestRelayAttachmentLink with the links
// kept in an S3 bucket: a gofakes3 server on loopback, spoken to over
// HTTP by minio-go as a real store would be.
func TestRelayAttachmentLinkS3(t *testing.T) {
	srv := s3test.Start(t, "mail-links")
	storage := fmt.Sprintf("s3 {\n    endpoint = %q\n    bucket = %q\n    prefix = \"relay-1/\"\n"+
		"    access_key = %q\n    secret_key = %q\n    tls = false\n  }", srv.Endpoint, srv.Bucket, s3test.AccessKey, s3test.SecretKey)
	testAttachmentLink(t, storage, func() int {
		n := 0
		for _, k := range srv.Keys(t) {
			if strings.HasPrefix(k, "relay-1/") && strings.HasSuffix(k, ".data") {
				n++
			}
		}
		return n
	})
}

// testAttachmentLink runs the relay with storage (the links block's dir
// or s3 setting); objects counts the objects stored.
func testAttachmentLink(t *testing.T, storage string, objects func() int) {
	wasm := wasmtest.Build(t, "plugins/attachlink")
	sink := relaytest.StartSink(t, false, nil)
	cfg := fmt.Sprintf("links {\n  listen = %q\n  %s\n  ttl = \"24h\"\n}\n", relaytest.FreeAddr(t), storage) +
		filterBlock("attachlink", wasm, `{"max_size": "1MiB"}`) +
		filterBlock("attachlink-short", wasm, `{"max_size": "1MiB", "ttl": "1s"}`) +
		domainBlock("example.org", sink.Addr, "attachlink") +
		domainBlock("short.example.org", sink.Addr, "attachlink-short")
	r := relaytest.StartRelay(t, cfg)

	pdf := make([]byte, 5<<20)
	rand.Read(pdf)
	copy(pdf, "%PDF-1.7\n")
	h, body := buildMessage(t, pdf, true)
	send(t, r, "b@example.org", h, body)
	msgs := sink.WaitMessages(t, 1)
	data := msgs[0].Data
	if len(data) > 20000 {
		t.Fatalf("delivered message is %d bytes: the attachment is still in it", len(data))
	}
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Join(walk(t, m.Header.Get("Content-Type"), m.Body), "\n")
	sum := sha256.Sum256(pdf)
	if !strings.Contains(texts, hex.EncodeToString(sum[:])) || !strings.Contains(texts, "Hello, see the report.") {
		t.Errorf("notice:\n%s", texts)
	}
	link := linkRE.FindString(texts)
	if link == "" {
		t.Fatalf("no link in:\n%s", texts)
	}
	if !strings.Contains(texts, `<a href="`+link+`">`) {
		t.Errorf("no HTML notice with the link:\n%s", texts)
	}

	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, pdf) {
		t.Fatalf("download: %d, %d bytes, identical=%v", resp.StatusCode, len(got), bytes.Equal(got, pdf))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename=report.pdf` {
		t.Errorf("Content-Disposition %q", cd)
	}
	req, _ := http.NewRequest("GET", link, nil)
	req.Header.Set("Range", "bytes=4000000-4000099")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, pdf[4000000:4000100]) {
		t.Errorf("range: %d, %d bytes", resp.StatusCode, len(got))
	}

	// Unknown token, then a link whose ttl ran out: the same 404.
	unknown := link[:strings.Index(link, "/d/")+3] + strings.Repeat("A", 32)
	want404 := fetch404(t, unknown)
	send(t, r, "c@short.example.org", h, body)
	msgs = sink.WaitMessages(t, 2)
	m, _ = mail.ReadMessage(strings.NewReader(msgs[1].Data))
	short := linkRE.FindString(strings.Join(walk(t, m.Header.Get("Content-Type"), m.Body), "\n"))
	if short == "" {
		t.Fatal("no link in the second message")
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(short)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 404 {
			if string(b) != want404 {
				t.Errorf("expired link body %q, unknown token body %q", b, want404)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("link with a 1s ttl still served after 30s")
		}
	}
	if n := objects(); n != 1 { // the 24h object only: the expired one was removed
		t.Errorf("links store holds %d objects, want 1", n)
	}
}

func fetch404(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 {
		t.Fatalf("%s: %d", url, resp.StatusCode)
	}
	return string(b)
}
