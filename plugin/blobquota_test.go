package plugin

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice-mail/sluice/mta/links"
	"github.com/sluice-mail/sluice/sdk/abi"
)

// TestBlobQuota runs the behave plugin's blob_put calls against a links
// store: blob_message_quota bounds what one event stores, blob_quota what
// a filter's unexpired objects hold across events; past either the call
// fails with -5 (ErrTooLarge) and leaves nothing in the store. A part is
// streamed within the quota left and counted at its decoded size.
func TestBlobQuota(t *testing.T) {
	const tooLarge = "error: sluice: too large"
	now := time.Unix(2e9, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dir := t.TempDir()
	store, err := links.Open(links.Options{Dir: filepath.Join(dir, "links"), BaseURL: "http://links.test", TTL: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	usage := NewBlobUsage()
	usage.now = clock
	shareCompilationCache(t, dir)
	blob := func(name string, conf v, msgQuota, quota int64) FilterSpec {
		conf["mode"] = "blob"
		return behave(t, name, conf, func(f *FilterSpec) {
			f.Grants, f.BlobMessageQuota, f.BlobQuota = []string{"blob"}, msgQuota, quota
		})
	}
	h, err := NewHost(context.Background(), []FilterSpec{
		blob("per-message", v{"blob_sizes": []int{600, 600, 300, 100, 1}}, 1000, 1<<30),
		blob("per-filter", v{"blob_sizes": []int{600, 600, 400}}, 1<<30, 1000),
		blob("part-fits", v{"blob_parts": []string{"2", "1.1"}}, 25, 1<<30),
		blob("part-over", v{"blob_parts": []string{"2"}}, 20, 1<<30),
		blob("defaults", v{"blob_sizes": []int{1000}}, 0, 0),
	}, HostOptions{DataDir: dir, Blobs: store, BlobUsage: usage, Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	run := func(name string) []string {
		t.Helper()
		c, err := h.Chain([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		v, ch := c.Data(context.Background(), testTxn(), testMessage(t, multipartMsg))
		if v.Action != Continue || ch == nil {
			t.Fatalf("%s: %+v %+v", name, v, ch)
		}
		var got []string
		for _, c := range ch.Headers {
			got = append(got, c.Value)
		}
		return got
	}
	objects := func() int {
		ents, _ := os.ReadDir(filepath.Join(dir, "links"))
		n := 0
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".data") {
				n++
			}
		}
		return n
	}
	steps := []struct {
		filter  string
		later   time.Duration // clock moves this much before the event
		want    []string
		objects int // .data files in the store after the event
	}{
		// 600 + 300 + 100 = 1000 in one event; the other 600 and the last byte would pass it.
		{"per-message", 0, []string{"600", tooLarge, "300", "100", tooLarge}, 3},
		// The next message has its own 1000 bytes.
		{"per-message", 0, []string{"600", tooLarge, "300", "100", tooLarge}, 6},
		// 1000 for the filter's unexpired objects, across messages.
		{"per-filter", 0, []string{"600", tooLarge, "400"}, 8},
		{"per-filter", 0, []string{tooLarge, tooLarge, tooLarge}, 8},
		{"per-filter", 59 * time.Minute, []string{tooLarge, tooLarge, tooLarge}, 8},
		// An hour on, the links have expired and no longer count.
		{"per-filter", time.Minute, []string{"600", tooLarge, "400"}, 10},
		// Part 2 is 28 bytes of base64 for 21 bytes: it fits in 25 once
		// decoded; part 1.1 (11 bytes) is over what is left.
		{"part-fits", 0, []string{"21", tooLarge}, 11},
		{"part-over", 0, []string{tooLarge}, 11},
		{"defaults", 0, []string{"1000"}, 12},
	}
	for i, s := range steps {
		mu.Lock()
		now = now.Add(s.later)
		mu.Unlock()
		if got := run(s.filter); !slices.Equal(got, s.want) {
			t.Errorf("step %d (%s): %q, want %q", i, s.filter, got, s.want)
		}
		if n := objects(); n != s.objects {
			t.Errorf("step %d (%s): %d objects in the store, want %d", i, s.filter, n, s.objects)
		}
	}
	for _, f := range h.order {
		if f.name == "defaults" && (f.blobQuota != abi.DefaultBlobQuota || f.blobMessageQuota != abi.DefaultBlobMessageQuota) {
			t.Errorf("defaults: quotas %d, %d", f.blobQuota, f.blobMessageQuota)
		}
	}
}

// TestBlobUsageConcurrent: reservations made at once never add up to
// more than the quota.
func TestBlobUsageConcurrent(t *testing.T) {
	u := NewBlobUsage()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				got := u.reserve("f", 1000, 7)
				mu.Lock()
				total += got
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if total != 1000 {
		t.Errorf("reserved %d bytes in all, quota 1000", total)
	}
	u.settle("f", 7, 3, time.Now().Add(-time.Second)) // stored 3 of 7, already expired
	if got := u.reserve("f", 1000, 100); got != 7 {
		t.Errorf("after settling: %d bytes free, want 7", got)
	}
}
