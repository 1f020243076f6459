package engine_test

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/plugins/virus/engine"
	"github.com/sluice-mail/sluice/plugins/virus/virustest"
)

func scanner() *engine.Scanner { return &engine.Scanner{DB: engine.NewBuiltinDB()} }

func kinds(r *engine.Report) string {
	var s []string
	for _, f := range r.Findings {
		s = append(s, string(f.Kind)+":"+f.Name+"@"+f.Part)
	}
	return strings.Join(s, " ")
}

func TestEICAREverywhere(t *testing.T) {
	eicar := virustest.EICAR()
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	plain := "From: a@b\r\nSubject: x\r\n\r\n" + string(eicar) + "\r\n"
	qp := "From: a@b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		strings.Replace(string(eicar), "=", "=3D", -1)[:30] + "=\r\n" + strings.Replace(string(eicar), "=", "=3D", -1)[30:] + "\r\n"
	rfc822 := "From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n" +
		string(virustest.Message("inner", virustest.File{Name: "e.com", Data: eicar})) + "\r\n--x--\r\n"
	cases := []struct {
		name, msg, part string
	}{
		{"plain body", plain, "1"},
		{"quoted-printable", qp, "1"},
		{"base64 attachment", string(virustest.Message("a", virustest.File{Name: "eicar.txt", Data: eicar})), "2"},
		{"zip", string(virustest.Message("a", virustest.File{Name: "e.zip", Data: virustest.Zip(virustest.File{Name: "eicar.txt", Data: eicar})})), "2"},
		{"nested zip", string(virustest.Message("a", virustest.File{Name: "n.zip", Data: virustest.NestedZip("eicar.txt", eicar, 5)})), "2"},
		{"gzip", string(virustest.Message("a", virustest.File{Name: "a.txt", Data: []byte("clean")}, virustest.File{Name: "e.gz", Data: gz(eicar)})), "3"},
		{"message/rfc822", rfc822, "2"},
		{"nested multipart 10", string(virustest.NestedMultipart(10, string(eicar))), "1.1.1.1.1.1.1.1.1.1"},
	}
	for _, c := range cases {
		r := scanner().ScanMessage([]byte(c.msg))
		var found *engine.Finding
		for i, f := range r.Findings {
			if f.Kind == engine.KindVirus {
				found = &r.Findings[i]
			}
		}
		if found == nil || found.Name != "Eicar-Test-Signature" || found.Part != c.part {
			t.Errorf("%s: findings %s, want the virus in part %s", c.name, kinds(r), c.part)
		}
	}
}

func TestCleanMessages(t *testing.T) {
	msgs := map[string][]byte{
		"text":      []byte("From: a@b\r\nSubject: hi\r\n\r\nhello\r\n"),
		"attach":    virustest.Message("x", virustest.File{Name: "report.pdf", Data: []byte("%PDF-1.4 not much")}),
		"zip":       virustest.Message("x", virustest.File{Name: "r.zip", Data: virustest.Zip(virustest.File{Name: "r.txt", Data: []byte("fine")})}),
		"eicar-mid": []byte("From: a@b\r\n\r\nthe test file starts here: " + string(virustest.EICAR()) + "\r\n"),
	}
	for name, m := range msgs {
		if r := scanner().ScanMessage(m); len(r.Findings) != 0 {
			t.Errorf("%s: %s", name, kinds(r))
		}
	}
}

func TestLimits(t *testing.T) {
	s := scanner()
	s.Limits = engine.Limits{MaxTotal: 10 << 20, MaxFileSize: 4 << 20, MaxDepth: 8, MaxFiles: 50}
	cases := []struct {
		name string
		msg  []byte
		want string
	}{
		{"bomb total", virustest.Message("b", virustest.File{Name: "b.zip", Data: virustest.Bomb(20, 1<<20)}), "Heuristics.Limits.Exceeded.MaxTotal"},
		{"bomb file", virustest.Message("b", virustest.File{Name: "b.zip", Data: virustest.Bomb(1, 8<<20)}), "Heuristics.Limits.Exceeded.MaxFileSize"},
		{"files", virustest.Message("b", virustest.File{Name: "b.zip", Data: virustest.Bomb(60, 10)}), "Heuristics.Limits.Exceeded.MaxFiles"},
		{"zip depth", virustest.Message("d", virustest.File{Name: "d.zip", Data: virustest.NestedZip("x.txt", []byte("x"), 12)}), "Heuristics.Limits.Exceeded.MaxRecursion"},
		{"multipart 100", virustest.NestedMultipart(100, "deep"), "Heuristics.Limits.Exceeded.MaxRecursion"},
	}
	for _, c := range cases {
		r := s.ScanMessage(c.msg)
		if !r.Has(engine.KindLimit) || !strings.Contains(kinds(r), c.want) {
			t.Errorf("%s: %s, want %s", c.name, kinds(r), c.want)
		}
		if r.Bytes > 10<<20+int64(len(c.msg)) {
			t.Errorf("%s: scanned %d bytes, over the limit", c.name, r.Bytes)
		}
	}
	// Within the limits, the same shapes are clean.
	s.Limits = engine.Limits{}
	if r := s.ScanMessage(virustest.NestedMultipart(12, "deep")); len(r.Findings) != 0 {
		t.Errorf("12 levels: %s", kinds(r))
	}
}

func TestAttachmentPolicy(t *testing.T) {
	pe := append([]byte("MZ"), make([]byte, 0x3a)...)
	pe = append(pe, 0x40, 0, 0, 0)
	pe = append(pe, []byte("PE\x00\x00")...)
	pe = append(pe, make([]byte, 64)...)
	ole := append([]byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}, []byte("...._\x00V\x00B\x00A\x00_\x00P\x00R\x00O\x00J\x00E\x00C\x00T\x00")...)
	cases := []struct {
		name string
		file virustest.File
		cats []string
	}{
		{"exe by content", virustest.File{Name: "readme.txt", Data: pe}, []string{engine.CatExecutable}},
		{"elf", virustest.File{Name: "data", Data: []byte("\x7fELF\x02\x01\x01")}, []string{engine.CatExecutable}},
		{"script", virustest.File{Name: "notes", Data: []byte("#!/bin/sh\nrm -rf /\n")}, []string{engine.CatScript}},
		{"batch", virustest.File{Name: "a.txt", Data: []byte("@ECHO OFF\r\ndel *\r\n")}, []string{engine.CatScript}},
		{"ole2 macro", virustest.File{Name: "a.doc", Data: ole}, []string{engine.CatMacro}},
		{"docm", virustest.File{Name: "a.docm", Data: virustest.Zip(virustest.File{Name: "word/document.xml", Data: []byte("<x/>")}, virustest.File{Name: "word/vbaProject.bin", Data: []byte("vba")})}, []string{engine.CatMacro}},
		{"extension", virustest.File{Name: "setup.EXE", Data: []byte("text")}, []string{engine.CatExtension}},
		{"trailing dot", virustest.File{Name: "setup.scr. ", Data: []byte("text")}, []string{engine.CatExtension}},
		{"double", virustest.File{Name: "invoice.pdf.exe", Data: []byte("text")}, []string{engine.CatExtension, engine.CatDoubleExtension}},
		{"rtl", virustest.File{Name: "invoice\u202efdp.scr", Data: []byte("text")}, []string{engine.CatBidi, engine.CatExtension}},
		{"in zip", virustest.File{Name: "a.zip", Data: virustest.Zip(virustest.File{Name: "dir/photo.jpg.js", Data: []byte("x")})}, []string{engine.CatExtension, engine.CatDoubleExtension}},
		{"clean", virustest.File{Name: "photo.jpg", Data: []byte("\xff\xd8\xff")}, nil},
	}
	for _, c := range cases {
		r := scanner().ScanMessage(virustest.Message("p", c.file))
		var cats []string
		for _, f := range r.Findings {
			if f.Kind != engine.KindPolicy || f.Part != "2" {
				t.Errorf("%s: unexpected finding %+v", c.name, f)
			}
			cats = append(cats, f.Category)
		}
		if strings.Join(cats, ",") != strings.Join(c.cats, ",") {
			t.Errorf("%s: categories %v, want %v", c.name, cats, c.cats)
		}
	}
}

func TestEncodedNames(t *testing.T) {
	msg := "From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n" +
		"--q\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe\r\n\r\nx\r\n" +
		"--q\r\nContent-Type: application/octet-stream; name=\"=?utf-8?b?c2V0dXAuZXhl?=\"\r\n\r\nx\r\n" +
		"--q\r\nContent-Type: application/octet-stream; name=\"bad.vbs\r\nContent-Disposition: attachment; filename=\"bad.vbs\r\n\r\nx\r\n--q--\r\n"
	r := scanner().ScanMessage([]byte(msg))
	parts := map[string]bool{}
	for _, f := range r.Findings {
		if f.Category == engine.CatExtension {
			parts[f.Part] = true
		}
	}
	if !parts["1"] || !parts["2"] || !parts["3"] {
		t.Errorf("findings %s, want a dangerous extension in parts 1, 2 and 3", kinds(r))
	}
}

func TestEncryptedZip(t *testing.T) {
	z := virustest.Zip(virustest.File{Name: "secret.txt", Data: []byte("x")})
	// Set the encryption flag in the local and central headers.
	z = bytes.Replace(z, []byte("PK\x03\x04\x14\x00\x08\x00"), []byte("PK\x03\x04\x14\x00\x09\x00"), 1)
	z = bytes.Replace(z, []byte("PK\x01\x02\x14\x00\x14\x00\x08\x00"), []byte("PK\x01\x02\x14\x00\x14\x00\x09\x00"), 1)
	r := scanner().ScanMessage(virustest.Message("e", virustest.File{Name: "s.zip", Data: z}))
	if !r.Has(engine.KindEncrypted) {
		t.Errorf("findings %s, want an encrypted member", kinds(r))
	}
}

// FuzzScanMessage: no input makes the walker panic or exceed its limits.
func FuzzScanMessage(f *testing.F) {
	f.Add(virustest.Message("a", virustest.File{Name: "e.zip", Data: virustest.NestedZip("eicar.txt", virustest.EICAR(), 3)}))
	f.Add(virustest.NestedMultipart(5, "x"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n--a--"))
	s := scanner()
	s.Limits = engine.Limits{MaxTotal: 1 << 20, MaxFileSize: 1 << 20}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r := s.ScanMessage(msg)
		if r.Bytes > 1<<20+int64(len(msg)) {
			t.Fatalf("scanned %d bytes", r.Bytes)
		}
	})
}
