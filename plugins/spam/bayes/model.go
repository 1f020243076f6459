package bayes

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"slices"
	"sort"
	"strconv"
	"strings"
)

var wordDecoder = &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	return strings.NewReader(toUTF8(b, strings.ToLower(cs))), err
}}

// Hash is the 64-bit FNV-1a hash under which a token is counted: the store
// keeps hashes, never the tokens themselves.
func Hash(tok string) uint64 { return fnvMix(fnvOffset, tok) }

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnvMix continues an FNV-1a hash over s.
func fnvMix(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// Counts are how many trained spam and ham messages held a token.
type Counts struct{ Spam, Ham uint32 }

// Model is a trained classifier.
type Model struct {
	NSpam, NHam uint32
	// Tokens holds the counts by token hash while training.
	Tokens map[uint64]Counts
	// sorted is the read-only form the plugin scores with.
	hashes []uint64
	counts []Counts
	// buckets[b] is the index in hashes of the first hash whose top
	// bucketBits bits are b or more, so a lookup searches one bucket (a
	// handful of entries) instead of the whole array.
	buckets []uint32
}

// bucketBits sizes the lookup index: 2^16 buckets (256 KiB) keep a bucket
// of a 400 000-token model at ~6 entries.
const bucketBits = 16

// NewModel returns an empty model.
func NewModel() *Model { return &Model{Tokens: map[uint64]Counts{}} }

// Learn counts the distinct tokens (hashes, from Tokens) of one message.
func (m *Model) Learn(tokens []uint64, spam bool) {
	if m.Tokens == nil {
		m.Tokens = map[uint64]Counts{}
	}
	if spam {
		m.NSpam++
	} else {
		m.NHam++
	}
	for _, h := range tokens {
		c := m.Tokens[h]
		if spam {
			c.Spam++
		} else {
			c.Ham++
		}
		m.Tokens[h] = c
	}
}

func (m *Model) lookup(h uint64) (Counts, bool) {
	if m.Tokens != nil {
		c, ok := m.Tokens[h]
		return c, ok
	}
	b := h >> (64 - bucketBits)
	lo, hi := int(m.buckets[b]), int(m.buckets[b+1])
	for lo < hi { // the first index in [lo, hi) whose hash is >= h
		mid := int(uint(lo+hi) >> 1)
		if m.hashes[mid] < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(m.hashes) && m.hashes[lo] == h {
		return m.counts[lo], true
	}
	return Counts{}, false
}

// Params tune the classifier (SpamBayes' defaults).
type Params struct {
	S, X            float64 // strength and value of the prior for rare tokens
	MinStrength     float64 // tokens with |p-0.5| below this are ignored
	MaxClues        int     // the strongest tokens used
	MinSpam, MinHam uint32  // below this much training the model abstains
}

// DefaultParams are SpamBayes' published defaults.
var DefaultParams = Params{S: 0.45, X: 0.5, MinStrength: 0.1, MaxClues: 150, MinSpam: 20, MinHam: 20}

// Ready reports whether the model has enough training to give an opinion.
func (m *Model) Ready(p Params) bool { return m != nil && m.NSpam >= p.MinSpam && m.NHam >= p.MinHam }

// Score returns the spam probability of a token set in [0, 1] (0.5 is
// "unsure"), with Robinson's smoothed per-token probabilities combined by
// Fisher's chi-squared method. An untrained model returns 0.5.
func (m *Model) Score(tokens []uint64, p Params) float64 {
	if !m.Ready(p) {
		return 0.5
	}
	type clue struct{ prob, strength float64 }
	clues := make([]clue, 0, 64)
	ns, nh := float64(m.NSpam), float64(m.NHam)
	for _, h := range tokens {
		c, ok := m.lookup(h)
		if !ok {
			continue
		}
		sr, hr := float64(c.Spam)/ns, float64(c.Ham)/nh
		if sr+hr == 0 {
			continue
		}
		prob := sr / (sr + hr)
		n := float64(c.Spam + c.Ham)
		prob = (p.S*p.X + n*prob) / (p.S + n)
		if d := math.Abs(prob - 0.5); d >= p.MinStrength {
			clues = append(clues, clue{prob, d})
		}
	}
	if len(clues) == 0 {
		return 0.5
	}
	slices.SortFunc(clues, func(a, b clue) int { return cmp.Compare(b.strength, a.strength) })
	if len(clues) > p.MaxClues {
		clues = clues[:p.MaxClues]
	}
	// H and S in the log domain to avoid underflow.
	var lnH, lnS float64
	for _, c := range clues {
		pr := math.Min(math.Max(c.prob, 1e-6), 1-1e-6)
		lnS += math.Log(1 - pr)
		lnH += math.Log(pr)
	}
	n := len(clues)
	s := 1 - chi2Q(-2*lnS, 2*n)
	h := 1 - chi2Q(-2*lnH, 2*n)
	return (s - h + 1) / 2
}

// chi2Q is the probability that a chi-squared variable with v (even)
// degrees of freedom exceeds x2.
func chi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	sum := math.Exp(-m)
	term := sum
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return math.Min(sum, 1)
}

// The store: "bayes/meta" holds Meta as JSON; the token counts of
// generation G are in "bayes/G/0" … "bayes/G/<Shards-1>", each a sorted
// array of (hash uint64, spam uint32, ham uint32) little-endian records
// under the host's 64 KiB value limit. A retrain writes a new generation,
// then the meta key (one atomic rename), then deletes the old shards, so a
// plugin never mixes two generations.
const (
	MetaKey   = "bayes/meta"
	entrySize = 16
	shardMax  = 4000 // entries per shard: 64000 bytes
	// MaxTokens caps a stored model (the host allows 10 000 keys per filter).
	MaxTokens = 2000 * shardMax
)

// Meta describes the stored model.
type Meta struct {
	Gen    int64  `json:"gen"`
	NSpam  uint32 `json:"nspam"`
	NHam   uint32 `json:"nham"`
	Shards int    `json:"shards"`
	Tokens int    `json:"tokens"`
}

// ShardKey names shard i of generation gen.
func ShardKey(gen int64, i int) string {
	return "bayes/" + strconv.FormatInt(gen, 10) + "/" + strconv.Itoa(i)
}

// Encode returns the shard values of a model. When the model has more than
// MaxTokens tokens, the rarest are dropped.
func (m *Model) Encode() [][]byte {
	type ent struct {
		h uint64
		c Counts
	}
	ents := make([]ent, 0, len(m.Tokens))
	for h, c := range m.Tokens {
		ents = append(ents, ent{h, c})
	}
	if len(ents) > MaxTokens {
		sort.Slice(ents, func(i, j int) bool { return ents[i].c.Spam+ents[i].c.Ham > ents[j].c.Spam+ents[j].c.Ham })
		ents = ents[:MaxTokens]
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].h < ents[j].h })
	var shards [][]byte
	for len(ents) > 0 {
		n := min(len(ents), shardMax)
		b := make([]byte, n*entrySize)
		for i, e := range ents[:n] {
			binary.LittleEndian.PutUint64(b[i*entrySize:], e.h)
			binary.LittleEndian.PutUint32(b[i*entrySize+8:], e.c.Spam)
			binary.LittleEndian.PutUint32(b[i*entrySize+12:], e.c.Ham)
		}
		shards = append(shards, b)
		ents = ents[n:]
	}
	return shards
}

// Store is the key-value store a model lives in (the plugin's, or the
// host's files when training offline).
type Store interface {
	Get(key string) ([]byte, error)
	Put(key string, val []byte) error
	Delete(key string) error
}

// ErrNoModel is returned by Load when the store holds no model.
var ErrNoModel = errors.New("bayes: no trained model")

// ReadMeta reads the meta key; notFound tells whether an error means absence.
func ReadMeta(s Store, notFound func(error) bool) (Meta, error) {
	raw, err := s.Get(MetaKey)
	if err != nil {
		if notFound(err) {
			return Meta{}, ErrNoModel
		}
		return Meta{}, err
	}
	var meta Meta
	if err := json.Unmarshal(raw, &meta); err != nil || meta.Shards < 0 || meta.Shards > 10000 {
		return Meta{}, fmt.Errorf("bayes: bad meta record")
	}
	return meta, nil
}

// Load reads the model that meta describes, in the sorted read-only form.
func Load(s Store, meta Meta) (*Model, error) {
	m := &Model{NSpam: meta.NSpam, NHam: meta.NHam}
	if meta.Tokens > 0 && meta.Tokens <= MaxTokens {
		// Sized once: growing by append would briefly need twice the memory.
		m.hashes = make([]uint64, 0, meta.Tokens)
		m.counts = make([]Counts, 0, meta.Tokens)
	}
	var prev uint64
	for i := 0; i < meta.Shards; i++ {
		b, err := s.Get(ShardKey(meta.Gen, i))
		if err != nil {
			return nil, fmt.Errorf("bayes: shard %d: %w", i, err)
		}
		for j := 0; j+entrySize <= len(b); j += entrySize {
			h := binary.LittleEndian.Uint64(b[j:])
			if len(m.hashes) > 0 && h <= prev {
				return nil, fmt.Errorf("bayes: shard %d is not sorted", i)
			}
			prev = h
			m.hashes = append(m.hashes, h)
			m.counts = append(m.counts, Counts{binary.LittleEndian.Uint32(b[j+8:]), binary.LittleEndian.Uint32(b[j+12:])})
		}
	}
	m.buckets = make([]uint32, 1<<bucketBits+1)
	i := 0
	for b := range m.buckets {
		for i < len(m.hashes) && m.hashes[i]>>(64-bucketBits) < uint64(b) {
			i++
		}
		m.buckets[b] = uint32(i)
	}
	return m, nil
}

// Thaw turns a loaded (read-only) model back into a trainable one.
func (m *Model) Thaw() {
	if m.Tokens != nil {
		return
	}
	m.Tokens = make(map[uint64]Counts, len(m.hashes))
	for i, h := range m.hashes {
		m.Tokens[h] = m.counts[i]
	}
	m.hashes, m.counts, m.buckets = nil, nil, nil
}

// Save writes the model as a new generation and switches the meta key to it,
// then removes the previous generation's shards.
func Save(s Store, m *Model, old Meta, hadOld bool) (Meta, error) {
	shards := m.Encode()
	meta := Meta{Gen: old.Gen + 1, NSpam: m.NSpam, NHam: m.NHam, Shards: len(shards)}
	for i, b := range shards {
		if err := s.Put(ShardKey(meta.Gen, i), b); err != nil {
			return Meta{}, err
		}
		meta.Tokens += len(b) / entrySize
	}
	raw, _ := json.Marshal(meta)
	if err := s.Put(MetaKey, raw); err != nil {
		return Meta{}, err
	}
	if hadOld {
		for i := 0; i < old.Shards; i++ {
			s.Delete(ShardKey(old.Gen, i)) // best effort: a leftover costs a key, not correctness
		}
	}
	return meta, nil
}
