package deliver

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net/textproto"
	"strings"
	"testing"
)

// chunkReader returns its data in random small pieces.
type chunkReader struct {
	b   []byte
	rng *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.b), 1+c.rng.IntN(200))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// TestSendBodyMatchesDotWriter: for random bodies (CRLF lines, leading
// dots, bare CRs and LFs, long lines, no final newline) sendBody and the
// DotWriter's Close put exactly the bytes on the wire that the DotWriter
// alone did.
func TestSendBodyMatchesDotWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"line\r\n", ".dot\r\n", "\r\n", ".\r\n", "..\r\n", "x", ".", "\r", "\n", "\r\r\n", "a\nb", strings.Repeat("y", 40000)}
	for i := 0; i < 3000; i++ {
		var msg []byte
		for n := rng.IntN(40); n > 0; n-- {
			p := pieces[rng.IntN(len(pieces)-1)]
			if rng.IntN(200) == 0 {
				p = pieces[len(pieces)-1] // a line longer than the buffer
			}
			msg = append(msg, p...)
		}
		var want bytes.Buffer
		wbw := bufio.NewWriter(&want)
		wd := textproto.NewWriter(wbw).DotWriter()
		wd.Write(msg)
		wd.Close()

		var got bytes.Buffer
		gbw := bufio.NewWriter(&got)
		gd := textproto.NewWriter(gbw).DotWriter()
		if err := sendBody(&got, gd, &chunkReader{msg, rng}); err != nil {
			t.Fatal(err)
		}
		gd.Close()
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("body %q:\n got %q\nwant %q", msg, got.Bytes(), want.Bytes())
		}
	}
}

func BenchmarkSendBody100KB(b *testing.B) {
	msg := []byte("Subject: x\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n.dot\r\n", 100<<10/86))
	b.SetBytes(int64(len(msg)))
	b.Run("sendBody", func(b *testing.B) {
		for b.Loop() {
			d := textproto.NewWriter(bufio.NewWriter(io.Discard)).DotWriter()
			sendBody(io.Discard, d, bytes.NewReader(msg))
			d.Close()
		}
	})
	b.Run("DotWriter", func(b *testing.B) {
		for b.Loop() {
			d := textproto.NewWriter(bufio.NewWriter(io.Discard)).DotWriter()
			io.Copy(d, bytes.NewReader(msg))
			d.Close()
		}
	})
}
