package main

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzReencode puts fuzzed content, transfer-encoding declaration and
// media type into a part of a well-formed multipart message (and a nested
// message/rfc822) and checks that the re-encoded message is 7-bit clean,
// and that every leaf decodes to exactly the bytes it held.
func FuzzReencode(f *testing.F) {
	f.Add([]byte("Grüße\r\n-- \r\nFrom x\r\n"), "text/plain", "8bit")
	f.Add([]byte("\x00\xff\r\n\r\n"), "application/octet-stream", "")
	f.Add([]byte(strings.Repeat("é", 700)), "text/plain", "binary")
	f.Add([]byte("a\rb\nc  \r\n\t"), "text/html", "7bit")
	f.Fuzz(func(t *testing.T, content []byte, mt, cte string) {
		if len(mt) > 40 || len(cte) > 20 || strings.ContainsFunc(mt+cte, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return // header syntax is not what this target explores
		}
		const b = "=_fuzz_boundary_7Qx"
		if bytes.Contains(content, []byte("--"+b)) {
			return // it would be a delimiter, not content
		}
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(mt)), "multipart/") || strings.HasPrefix(strings.ToLower(strings.TrimSpace(mt)), "message/") {
			return
		}
		part := "Content-Type: " + mt + "\r\n"
		if cte != "" {
			part += "Content-Transfer-Encoding: " + cte + "\r\n"
		}
		part += "\r\n" + string(content)
		msg := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n" +
			"--" + b + "\r\n" + part + "\r\n" +
			"--" + b + "\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n" + part + "\r\n" +
			"--" + b + "--\r\n"
		hdr, body := splitMessage(msg)
		res, err := rewriteBody(strings.NewReader(body), headerValue(hdr, "Content-Type"), "", bodyPolicy{encode8bit: true}, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		e := entity{cte: normCTE(cte)}
		if !identity(e.cte) {
			return // a declared encoding is not ours to fix
		}
		out := hdr + "\r\n" + string(res.Body)
		if needs7bit([]byte(res.Body)) && !has8bit([]byte(mt)) {
			t.Fatalf("not 7-bit clean:\n%q", res.Body)
		}
		if !needs7bit(content) && !has8bit([]byte(mt)) && res.Changed {
			t.Fatalf("7-bit content changed:\n%q", res.Body)
		}
		want, _ := leaves(t, []byte(msg))
		got, _ := leaves(t, []byte(out))
		if len(got) != len(want) {
			t.Fatalf("%d leaves, want %d:\n%q", len(got), len(want), out)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("leaf %d decodes to %q, want %q\n%q", i, got[i], want[i], out)
			}
		}
	})
}

// FuzzRewriteBody feeds arbitrary bodies under arbitrary root types: no
// panic, the output bound holds, and with nothing to do nothing changes.
func FuzzRewriteBody(f *testing.F) {
	f.Add([]byte("--a\r\nContent-Type: text/html\r\n\r\n<script>x</script>\xe9\r\n--a--\r\n"), "multipart/mixed; boundary=a")
	f.Add([]byte("--a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"), "multipart/related; boundary=a")
	f.Add([]byte("Subject: x\r\n\r\nbody\xff"), "message/rfc822")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		pol := bodyPolicy{encode8bit: true, html: &htmlPolicy{scripts: true, remoteImages: true}}
		res, err := rewriteBody(bytes.NewReader(body), ct, "", pol, 1<<20)
		if err != nil {
			if err != errTooLarge {
				t.Fatal(err)
			}
			return
		}
		if len(res.Body) > 1<<20 {
			t.Fatalf("output of %d bytes above the limit", len(res.Body))
		}
		if !res.Changed && !bytes.Equal(res.Body, body) {
			t.Fatalf("unchanged body not copied byte for byte:\n%q\n%q", body, res.Body)
		}
	})
}
