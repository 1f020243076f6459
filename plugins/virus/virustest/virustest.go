// Package virustest builds test files for the virus filter: the EICAR test
// file (assembled at run time, so the repository holds no copy), zips
// nested to any depth, and zip bombs.
package virustest

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
)

// EICAR returns the 68-byte EICAR anti-virus test file.
func EICAR() []byte {
	a := `X5O!P%@AP[4\PZX54(P^)7CC)7}$`
	b := "EICAR-STANDARD-ANTIVIRUS-" + "TEST-FILE!$H+H*"
	return []byte(a + b)
}

// File is one member of a zip.
type File struct {
	Name string
	Data []byte
}

// Zip returns a zip archive of files (deflated).
func Zip(files ...File) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range files {
		fw, err := w.Create(f.Name)
		if err != nil {
			panic(err)
		}
		fw.Write(f.Data)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// NestedZip wraps data named name in depth levels of zip archives.
func NestedZip(name string, data []byte, depth int) []byte {
	for i := 0; i < depth; i++ {
		data = Zip(File{Name: name, Data: data})
		name = fmt.Sprintf("level%d.zip", depth-i)
	}
	return data
}

// Bomb returns a zip of n members, each size zero bytes deflated (about
// 1000:1), so it expands to n*size bytes.
func Bomb(n int, size int) []byte {
	zero := make([]byte, size)
	files := make([]File, n)
	for i := range files {
		files[i] = File{Name: fmt.Sprintf("zero%03d.bin", i), Data: zero}
	}
	return Zip(files...)
}

// Message builds a multipart/mixed message with a text part and one base64
// attachment per file.
func Message(subject string, files ...File) []byte {
	var b strings.Builder
	b.WriteString("From: sender@example.org\r\nTo: rcpt@example.com\r\nSubject: " + subject + "\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
	b.WriteString("--b0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n")
	for _, f := range files {
		b.WriteString("--b0\r\nContent-Type: application/octet-stream; name=\"" + f.Name + "\"\r\n")
		b.WriteString("Content-Disposition: attachment; filename=\"" + f.Name + "\"\r\n")
		b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		enc := base64.StdEncoding.EncodeToString(f.Data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--b0--\r\n")
	return []byte(b.String())
}

// NestedMultipart returns a message whose body nests depth multipart
// containers, with inner as the innermost text part's content.
func NestedMultipart(depth int, inner string) []byte {
	var b strings.Builder
	b.WriteString("From: sender@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"d0\"\r\n\r\n")
	for i := 0; i < depth-1; i++ {
		fmt.Fprintf(&b, "--d%d\r\nContent-Type: multipart/mixed; boundary=\"d%d\"\r\n\r\n", i, i+1)
	}
	fmt.Fprintf(&b, "--d%d\r\nContent-Type: text/plain\r\n\r\n%s\r\n--d%d--\r\n", depth-1, inner, depth-1)
	for i := depth - 2; i >= 0; i-- {
		fmt.Fprintf(&b, "--d%d--\r\n", i)
	}
	return []byte(b.String())
}
