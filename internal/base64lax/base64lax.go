// Package base64lax decodes base64 mail bodies as mail readers do: the
// line breaks between groups, and any stray byte outside the alphabet,
// are skipped, so that a sloppy encoder neither fails the decoding nor
// hides the text. It is plain Go, shared by the plugin host (blob_put of a
// part) and the filters compiled to Wasm (spam's Bayes tokenizer).
package base64lax

import (
	"encoding/base64"
	"io"
)

// NewDecoder decodes standard base64 from r, keeping only the bytes of the
// alphabet and the padding.
func NewDecoder(r io.Reader) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, &alphabetOnly{r: r})
}

// alphabetOnly keeps only base64 alphabet bytes and padding.
type alphabetOnly struct{ r io.Reader }

func (f *alphabetOnly) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
