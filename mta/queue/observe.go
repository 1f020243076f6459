package queue

import "time"

// Outcome statuses, as the "delivery attempt" log line and Options.Observe
// name them.
const (
	StatusDelivered = "delivered" // the next hop accepted the recipient
	StatusBounced   = "bounced"   // permanent failure: the recipient is failed
	StatusDeferred  = "deferred"  // temporary failure: retried later
	StatusExpired   = "expired"   // temporary failure past give_up_after: failed
)

// Attempt is one delivery attempt as Options.Observe sees it: the job's
// recipients, each with its outcome.
type Attempt struct {
	ID      string    // queue id
	Dest    string    // destination key (deliver.DestinationKey)
	Created time.Time // when the message was accepted
	// Duration is how long the transport took for the whole job; zero
	// when no transport ran (a recipient without a route fails at once).
	Duration time.Duration
	Outcomes []Outcome
}

// Outcome is what an attempt did for one recipient.
type Outcome struct {
	Addr   string
	Route  string // Recipient.Route: the domain block a filter rerouted it to
	Status string // StatusDelivered, StatusBounced, StatusDeferred or StatusExpired
}

// Oldest returns when the oldest message in the queue was accepted, zero
// when the queue is empty. It reads every message's creation time under
// the queue's lock only: Created is written before the message is
// tracked and never after.
func (q *Queue) Oldest() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	var oldest time.Time
	for _, m := range q.msgs {
		if c := m.env.Created; oldest.IsZero() || c.Before(oldest) {
			oldest = c
		}
	}
	return oldest
}
