package plugin

import (
	"container/heap"
	"io"
	"sync"
	"time"
)

// BlobUsage counts, per filter, the bytes of the objects it stored with
// blob_put that have not expired yet, against its blob_quota. Pass one to
// every NewHost of a process (HostOptions.BlobUsage) so the count survives
// reloads; nil gives each Host its own. Objects stored before the process
// started are not counted: the links store does not record who stored what.
type BlobUsage struct {
	mu      sync.Mutex
	filters map[string]*blobLedger
	now     func() time.Time
}

// NewBlobUsage returns an empty count.
func NewBlobUsage() *BlobUsage {
	return &BlobUsage{filters: map[string]*blobLedger{}, now: time.Now}
}

// blobLedger is one filter's count: used holds the bytes of its
// unexpired objects (live) and of the reservations of calls under way.
type blobLedger struct {
	used int64
	live blobHeap
}

type blobObject struct {
	expires time.Time
	size    int64
}

// blobHeap is a min-heap of objects by expiry.
type blobHeap []blobObject

func (h blobHeap) Len() int           { return len(h) }
func (h blobHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h blobHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *blobHeap) Push(x any)        { *h = append(*h, x.(blobObject)) }
func (h *blobHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// reserve takes up to want bytes of filter's quota and returns how many it
// got (0 when the quota is used up). The caller stores at most that much
// and then calls settle with the same amount.
func (u *BlobUsage) reserve(filter string, quota, want int64) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	l := u.filters[filter]
	if l == nil {
		l = &blobLedger{}
		u.filters[filter] = l
	}
	now := u.now()
	for len(l.live) > 0 && !now.Before(l.live[0].expires) {
		l.used -= heap.Pop(&l.live).(blobObject).size
	}
	got := min(want, quota-l.used)
	if got < 0 {
		got = 0
	}
	l.used += got
	return got
}

// settle ends a reservation: size bytes (0 if nothing was stored) count
// until expires.
func (u *BlobUsage) settle(filter string, reserved, size int64, expires time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	l := u.filters[filter]
	l.used -= reserved
	if size > 0 {
		l.used += size
		heap.Push(&l.live, blobObject{expires, size})
	}
}

// quotaReader passes at most max bytes of r through; one more sets over
// and fails the read, so the store gives up the object.
type quotaReader struct {
	r    io.Reader
	max  int64
	n    int64
	over bool
}

func (q *quotaReader) Read(p []byte) (int, error) {
	if q.over {
		return 0, errBlobQuota
	}
	if room := q.max - q.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := q.r.Read(p)
	q.n += int64(n)
	if q.n > q.max {
		q.over = true
		return 0, errBlobQuota
	}
	return n, err
}

var errBlobQuota error = blobQuotaError{}

type blobQuotaError struct{}

func (blobQuotaError) Error() string  { return "blob quota exceeded" }
func (blobQuotaError) TooLarge() bool { return true }
