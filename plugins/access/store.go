package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
)

// KV is the part of the host's key-value store the filter uses. The host
// caps it at 10 000 keys of at most 64 KiB, so per-triplet or per-IP keys
// would soon exhaust it: entries are hashed into a fixed number of bucket
// keys instead, each a packed array of records.
type KV interface {
	Get(key string) ([]byte, error) // errNotFound when absent
	Put(key string, val []byte) error
}

var errNotFound = errors.New("not found")

// record is one greylist triplet or rate-limit counter.
type record struct {
	hash  uint64
	first int64  // ms: first seen (greylist), window start (rate)
	last  int64  // ms: last seen; records expire from it
	n     uint32 // greylist: 1 once passed; rate: transactions in the window
}

const (
	recordSize = 8 + 8 + 8 + 4
	// maxRecords keeps a bucket value under the host's 64 KiB limit; the
	// least recently seen records are dropped beyond it.
	maxRecords = 2000
)

// table is a set of records spread over buckets kv keys "<prefix>/<n>".
type table struct {
	kv      KV
	prefix  string
	buckets uint64
}

func keyHash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func (t *table) bucketKey(h uint64) string { return fmt.Sprintf("%s/%d", t.prefix, h%t.buckets) }

func decodeRecords(b []byte) []record {
	n := len(b) / recordSize
	if n > maxRecords {
		n = maxRecords
	}
	rs := make([]record, n)
	for i := range rs {
		p := b[i*recordSize:]
		rs[i] = record{
			hash:  binary.LittleEndian.Uint64(p),
			first: int64(binary.LittleEndian.Uint64(p[8:])),
			last:  int64(binary.LittleEndian.Uint64(p[16:])),
			n:     binary.LittleEndian.Uint32(p[24:]),
		}
	}
	return rs
}

func encodeRecords(rs []record) []byte {
	b := make([]byte, len(rs)*recordSize)
	for i, r := range rs {
		p := b[i*recordSize:]
		binary.LittleEndian.PutUint64(p, r.hash)
		binary.LittleEndian.PutUint64(p[8:], uint64(r.first))
		binary.LittleEndian.PutUint64(p[16:], uint64(r.last))
		binary.LittleEndian.PutUint32(p[24:], r.n)
	}
	return b
}

// update loads the bucket of key, hands the record (zero with found=false
// when absent) to fn, and stores what fn returns unless keep is false.
// Records for which expired(r) is true are dropped from the bucket on the
// way. Concurrent instances may overwrite each other's update of the same
// bucket (last write wins): a lost update costs one extra greylist retry
// or one uncounted message, never a wrong refusal.
func (t *table) update(key string, expired func(record) bool, fn func(r record, found bool) (record, bool)) (record, error) {
	h := keyHash(key)
	bk := t.bucketKey(h)
	raw, err := t.kv.Get(bk)
	if err != nil && !errors.Is(err, errNotFound) {
		return record{}, err
	}
	rs := decodeRecords(raw)
	live := rs[:0]
	idx := -1
	for _, r := range rs {
		if expired(r) {
			continue
		}
		if r.hash == h {
			idx = len(live)
		}
		live = append(live, r)
	}
	var cur record
	if idx >= 0 {
		cur = live[idx]
	}
	nr, keep := fn(cur, idx >= 0)
	if !keep {
		return nr, nil
	}
	nr.hash = h
	if idx >= 0 {
		live[idx] = nr
	} else {
		live = append(live, nr)
	}
	if len(live) > maxRecords {
		sort.Slice(live, func(i, j int) bool { return live[i].last > live[j].last })
		live = live[:maxRecords]
	}
	return nr, t.kv.Put(bk, encodeRecords(live))
}
