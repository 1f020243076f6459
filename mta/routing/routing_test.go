package routing

import (
	"testing"
	"time"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/mta/deliver"
	"github.com/sluice-mail/sluice/mta/queue"
)

// TestSchedule: a recipient is retried on the schedule of the domain block
// its mail goes through (its own domain's, the catch-all's, or the one a
// filter rerouted it to), the queue block filling in what the block leaves
// out.
func TestSchedule(t *testing.T) {
	cfg, diags := config.Parse([]byte(`
queue {
  retry_min     = "2m"
  retry_max     = "1h"
  give_up_after = "48h"
}
listener "smtp" { address = "127.0.0.1:0" }
domain "slow.example" {
  retry_min = "30m"
  retry_max = "6h"
  deliver "maildir" {}
}
domain "brief.example" {
  give_up_after = "1h"
  deliver "maildir" {}
}
domain "*" {
  retry_max = "10m"
  deliver "maildir" {}
}
`), "test.hcl", t.TempDir())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	tab, err := New(cfg, deliver.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	h := time.Hour
	for _, tc := range []struct {
		rcpt queue.Recipient
		want queue.Schedule
	}{
		{queue.Recipient{Addr: "a@slow.example"}, queue.Schedule{RetryMin: 30 * time.Minute, RetryMax: 6 * h, GiveUpAfter: 48 * h}},
		{queue.Recipient{Addr: "a@BRIEF.example."}, queue.Schedule{RetryMin: 2 * time.Minute, RetryMax: h, GiveUpAfter: h}},
		{queue.Recipient{Addr: "a@elsewhere.example"}, queue.Schedule{RetryMin: 2 * time.Minute, RetryMax: 10 * time.Minute, GiveUpAfter: 48 * h}},
		{queue.Recipient{Addr: "a@elsewhere.example", Route: "slow.example"}, queue.Schedule{RetryMin: 30 * time.Minute, RetryMax: 6 * h, GiveUpAfter: 48 * h}},
		{queue.Recipient{Addr: "a@slow.example", Route: "gone.example"}, queue.Schedule{}},
	} {
		if got := NewSwitch(tab).Schedule(&tc.rcpt); got != tc.want {
			t.Errorf("%+v: %+v, want %+v", tc.rcpt, got, tc.want)
		}
	}
}
