package bayes

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

func TestSplitMessage(t *testing.T) {
	raw := "From someone@example.org Thu Aug 22 13:17:22 2002\nSubject: hello\n\tworld\r\nFrom: A <a@example.org>\r\n\r\nbody line\r\n"
	h, b := SplitMessage([]byte(raw))
	if len(h) != 2 || h[0].Name != "Subject" || Unfold(h[0].Value) != "hello\tworld" || h[1].Value != "A <a@example.org>" {
		t.Fatalf("header %+v", h)
	}
	if string(b) != "body line\r\n" {
		t.Fatalf("body %q", b)
	}
	// A header that ends without a blank line: the rest is body.
	h, b = SplitMessage([]byte("Subject: x\nthis is not a header\n"))
	if len(h) != 1 || string(b) != "this is not a header\n" {
		t.Fatalf("header %+v body %q", h, b)
	}
	if h, b := SplitMessage(nil); h != nil || b != nil {
		t.Fatal("empty message")
	}
}

func TestParseMIME(t *testing.T) {
	raw := "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\n" +
		"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 ol=\r\nd\r\n--b1\r\n" +
		"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+Qm9sZDwvYj4=\r\n--b1\r\n" +
		"Content-Type: application/pdf; name=\"x.pdf\"\r\nContent-Disposition: attachment; filename=\"x.pdf\"\r\n\r\nJVBERi0=\r\n--b1--\r\nepilogue\r\n"
	h, b := SplitMessage([]byte(raw))
	d := Parse(h, b)
	if len(d.Parts) != 3 {
		t.Fatalf("parts %+v", d.Parts)
	}
	if p := d.Parts[0]; p.Type != "text/plain" || p.Text != "café old\r\n" {
		t.Errorf("plain part %+v", p)
	}
	if p := d.Parts[1]; !p.HTML || p.Text != "<b>Bold</b>" {
		t.Errorf("html part %+v", p)
	}
	if p := d.Parts[2]; p.Filename != "x.pdf" || p.Text != "" {
		t.Errorf("attachment %+v", p)
	}
	toks := Tokens(d)
	for _, want := range []string{"café", "old", "bi:café old", "bold", "html:b", "filename-ext:pdf", "part:application/pdf", "ctype:multipart/alternative"} {
		if !slices.Contains(toks, Hash(want)) {
			t.Errorf("token %q missing from %v", want, toks)
		}
	}
}

// Hostile structure: deep nesting, many parts, a broken boundary and a huge
// body are parsed in bounded work without panicking.
func TestParseHostile(t *testing.T) {
	var sb strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&sb, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	sb.WriteString("Content-Type: text/plain\r\n\r\ndeep\r\n")
	h, b := SplitMessage([]byte(sb.String()))
	Parse(h, b)

	sb.Reset()
	sb.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
	for i := 0; i < 5000; i++ {
		sb.WriteString("--x\r\nContent-Type: text/plain\r\n\r\npart\r\n")
	}
	h, b = SplitMessage([]byte(sb.String()))
	if d := Parse(h, b); len(d.Parts) > maxParts {
		t.Errorf("%d parts", len(d.Parts))
	}
	big := "Content-Type: text/plain\r\n\r\n" + strings.Repeat("word ", 200000)
	h, b = SplitMessage([]byte(big))
	d := Parse(h, b)
	if len(d.Parts[0].Text) > maxTextBytes {
		t.Errorf("text of %d bytes", len(d.Parts[0].Text))
	}
	if n := len(Tokens(Parse(SplitMessage([]byte("Content-Type: text/plain\r\n\r\n" + randomWords(20000)))))); n > maxTokens {
		t.Errorf("%d tokens", n)
	}
	for _, junk := range []string{"Content-Type: multipart/mixed\r\n\r\nno boundary", "Content-Type: ;;;\r\n\r\nx",
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!", "Subject: =?bogus?Q?x?=\r\n\r\n"} {
		Tokens(Parse(SplitMessage([]byte(junk))))
	}
}

func randomWords(n int) string {
	r := rand.New(rand.NewSource(1))
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "w%x ", r.Int63())
	}
	return sb.String()
}

func TestSplitMbox(t *testing.T) {
	mbox := "From a@x Mon Jan  1 00:00:00 2024\nSubject: one\n\n>From the start\n\nFrom b@x Mon Jan  1 00:00:00 2024\nSubject: two\n\nbody\nFrom inside a line is not a separator\n"
	msgs := SplitMbox([]byte(mbox))
	if len(msgs) != 2 {
		t.Fatalf("%d messages: %q", len(msgs), msgs)
	}
	if !strings.Contains(string(msgs[0]), "\nFrom the start") || !strings.Contains(string(msgs[1]), "Subject: two") {
		t.Errorf("messages %q", msgs)
	}
}

// memStore is a Store in memory.
type memStore map[string][]byte

var errMissing = errors.New("missing")

func (m memStore) Get(k string) ([]byte, error) {
	v, ok := m[k]
	if !ok {
		return nil, errMissing
	}
	return v, nil
}
func (m memStore) Put(k string, v []byte) error {
	if len(v) > 64<<10 {
		return errors.New("value too large")
	}
	m[k] = v
	return nil
}
func (m memStore) Delete(k string) error { delete(m, k); return nil }

func notFound(err error) bool { return errors.Is(err, errMissing) }

// corpus makes n messages drawn from a vocabulary.
func corpus(r *rand.Rand, vocab []string, n int) [][]uint64 {
	var out [][]uint64
	for i := 0; i < n; i++ {
		var words []string
		for j := 0; j < 30; j++ {
			words = append(words, vocab[r.Intn(len(vocab))])
		}
		raw := "Subject: " + words[0] + " " + words[1] + "\r\n\r\n" + strings.Join(words, " ") + "\r\n"
		out = append(out, MessageTokens([]byte(raw), 0))
	}
	return out
}

var (
	spamVocab = strings.Fields("viagra cheap offer money winner click free credit loan casino pills discount prize urgent cash bonus deal shared common words")
	hamVocab  = strings.Fields("meeting project report schedule review patch kernel release thanks lunch agenda notes build tests shared common words")
)

func TestModelScoresAndStore(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	m := NewModel()
	if s := m.Score([]uint64{Hash("viagra")}, DefaultParams); s != 0.5 {
		t.Fatalf("untrained model scored %v", s)
	}
	for _, toks := range corpus(r, spamVocab, 40) {
		m.Learn(toks, true)
	}
	for _, toks := range corpus(r, hamVocab, 40) {
		m.Learn(toks, false)
	}
	spam := MessageTokens([]byte("Subject: free money\r\n\r\ncheap viagra offer click for cash prize\r\n"), 0)
	ham := MessageTokens([]byte("Subject: project meeting\r\n\r\nagenda for the kernel release review and build tests\r\n"), 0)
	ps, ph := m.Score(spam, DefaultParams), m.Score(ham, DefaultParams)
	if ps < 0.9 || ph > 0.1 {
		t.Fatalf("spam scored %.3f, ham %.3f", ps, ph)
	}
	if u := m.Score([]uint64{Hash("nothing"), Hash("known")}, DefaultParams); u != 0.5 {
		t.Errorf("unknown tokens scored %v", u)
	}

	// Save, load, score the same; a retrain switches generations and
	// removes the old shards.
	s := memStore{}
	if _, err := ReadMeta(s, notFound); !errors.Is(err, ErrNoModel) {
		t.Fatalf("empty store: %v", err)
	}
	meta, err := Save(s, m, Meta{}, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadMeta(s, notFound)
	if err != nil || got != meta || meta.Gen != 1 || meta.NSpam != 40 || meta.Tokens != len(m.Tokens) {
		t.Fatalf("meta %+v %+v %v", got, meta, err)
	}
	loaded, err := Load(s, meta)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := loaded.Score(spam, DefaultParams), ps; a != b {
		t.Errorf("loaded model scores %v, trained %v", a, b)
	}
	loaded.Thaw()
	loaded.Learn(spam, true)
	meta2, err := Save(s, loaded, meta, true)
	if err != nil || meta2.Gen != 2 || meta2.NSpam != 41 {
		t.Fatalf("second save %+v %v", meta2, err)
	}
	if _, ok := s[ShardKey(1, 0)]; ok {
		t.Error("old generation left behind")
	}
	// A corrupt shard is an error, never a panic.
	s[ShardKey(2, 0)] = append([]byte{}, s[ShardKey(2, 0)][16:32]...)
	s[ShardKey(2, 0)] = append(s[ShardKey(2, 0)], make([]byte, 16)...)
	if _, err := Load(s, meta2); err == nil {
		t.Error("unsorted shard loaded")
	}
	s[MetaKey] = []byte("{garbage")
	if _, err := ReadMeta(s, notFound); err == nil {
		t.Error("garbage meta read")
	}
}

func TestEncodeShards(t *testing.T) {
	m := NewModel()
	for i := 0; i < 3*shardMax+10; i++ {
		m.Learn([]uint64{Hash(fmt.Sprint("t", i))}, i%2 == 0)
	}
	shards := m.Encode()
	if len(shards) != 4 {
		t.Fatalf("%d shards", len(shards))
	}
	for _, s := range shards {
		if len(s) > 64<<10 {
			t.Errorf("shard of %d bytes", len(s))
		}
	}
}

// TestLoadedLookup: the loaded (bucket-indexed) model finds every trained
// hash with its counts and no other, including hashes at the edges of
// buckets and of the hash space.
func TestLoadedLookup(t *testing.T) {
	const top = 64 - bucketBits
	edges := []uint64{0, 1, 1<<top - 1, 1 << top, 1<<top + 1, 2<<top - 1, 5 << top, ^uint64(0) - 1, ^uint64(0)}
	m := NewModel()
	for i, h := range edges {
		m.Learn([]uint64{h}, i%2 == 0)
		m.Learn([]uint64{h}, false) // counts differ per hash: {1,1} or {0,2}
	}
	for i := 0; i < 20000; i++ {
		m.Learn([]uint64{Hash(fmt.Sprint("t", i))}, true)
	}
	s := memStore{}
	meta, err := Save(s, m, Meta{}, false)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(s, meta)
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range m.Tokens {
		if got, ok := loaded.lookup(h); !ok || got != want {
			t.Fatalf("lookup(%#x) = %v, %v; want %v", h, got, ok, want)
		}
	}
	for _, h := range []uint64{2, 1<<top + 2, 3 << top, 6<<top - 1, ^uint64(0) - 2, Hash("absent")} {
		if got, ok := loaded.lookup(h); ok {
			t.Errorf("lookup(%#x) found %v", h, got)
		}
	}
	if empty, err := Load(memStore{}, Meta{}); err != nil {
		t.Fatal(err)
	} else if _, ok := empty.lookup(0); ok {
		t.Error("an empty model found a hash")
	}
}
