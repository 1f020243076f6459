package queue

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/mta/deliver"
)

// TestObserve checks what Options.Observe is told: one call per attempt
// with every recipient's outcome, a deferral followed by a delivery, a
// bounce, an expiry, and a recipient with no route failed without a
// transport.
func TestObserve(t *testing.T) {
	tr := newScripted()
	tr.replies["retry@a.example"] = []deliver.Result{{Code: 451, Text: "later"}}
	tr.always = map[string]deliver.Result{
		"perm@a.example":  {Code: 550, Permanent: true, Text: "no such user"},
		"never@b.example": {Code: 421, Text: "busy"},
	}
	var mu sync.Mutex
	var attempts []Attempt
	q, err := Open(Options{Dir: t.TempDir(), Router: domainRouter{"a.example": tr, "b.example": tr},
		RetryMin: 5 * time.Millisecond, RetryMax: 5 * time.Millisecond, GiveUpAfter: 200 * time.Millisecond,
		Observe: func(a Attempt) {
			mu.Lock()
			attempts = append(attempts, a)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	before := time.Now()
	enqueue(t, q, "Subject: a\r\n\r\nbody\r\n", "retry@a.example", "perm@a.example")
	enqueue(t, q, "Subject: b\r\n\r\nbody\r\n", "never@b.example")
	enqueue(t, q, "Subject: c\r\n\r\nbody\r\n", "lost@c.example")
	if o := q.Oldest(); o.Before(before) || o.After(time.Now()) {
		t.Errorf("Oldest = %v, want the first message's creation time", o)
	}
	q.Start()
	waitFor(t, "an empty queue", func() bool { return q.Len() == 0 })
	if o := q.Oldest(); !o.IsZero() {
		t.Errorf("Oldest of an empty queue = %v, want zero", o)
	}

	mu.Lock()
	defer mu.Unlock()
	// The statuses each recipient went through, in order.
	got := map[string][]string{}
	for _, a := range attempts {
		if a.ID == "" || a.Created.Before(before) {
			t.Errorf("attempt without its message: %+v", a)
		}
		for _, o := range a.Outcomes {
			got[o.Addr] = append(got[o.Addr], o.Status)
		}
		switch {
		case slices.ContainsFunc(a.Outcomes, func(o Outcome) bool { return o.Addr == "lost@c.example" }):
			if a.Dest != "" || a.Duration != 0 {
				t.Errorf("route failure reported as a transport attempt: %+v", a)
			}
		case a.Dest == "" || a.Duration <= 0:
			t.Errorf("attempt without destination or duration: %+v", a)
		}
	}
	if g := got["retry@a.example"]; !slices.Equal(g, []string{StatusDeferred, StatusDelivered}) {
		t.Errorf("retry@a.example: %v", g)
	}
	if g := got["perm@a.example"]; !slices.Equal(g, []string{StatusBounced}) {
		t.Errorf("perm@a.example: %v", g)
	}
	if g := got["lost@c.example"]; !slices.Equal(g, []string{StatusBounced}) {
		t.Errorf("lost@c.example: %v", g)
	}
	g := got["never@b.example"]
	if len(g) < 2 || g[len(g)-1] != StatusExpired || slices.Index(g, StatusExpired) != len(g)-1 ||
		slices.ContainsFunc(g[:len(g)-1], func(s string) bool { return s != StatusDeferred }) {
		t.Errorf("never@b.example: %v, want deferrals then expired", g)
	}
}
