package relay

import (
	"reflect"

	"github.com/sluice-mail/sluice/mta/config"
)

// RestartOnly lists the settings that differ between a and b but are only
// read at start, so that Reload keeps their running values.
func RestartOnly(a, b *config.Config) []string {
	var out []string
	check := func(name string, x, y any) {
		if !reflect.DeepEqual(x, y) {
			out = append(out, name)
		}
	}
	check("listener", a.Listeners, b.Listeners)
	check("data_dir", a.DataDir, b.DataDir)
	check("tls", a.TLS, b.TLS)
	check("hostname", a.Hostname, b.Hostname)
	check("log", a.Log, b.Log)
	check("queue", queueAtStart(a.Queue), queueAtStart(b.Queue))
	check("links", a.Links, b.Links)
	check("metrics_listen", a.MetricsListen, b.MetricsListen)
	check("pprof_listen", a.PprofListen, b.PprofListen)
	return out
}

// queueAtStart is the part of the queue block read when the queue opens
// (max_messages and min_free_disk are read at every MAIL; the retry
// schedule at every attempt, through the routing table).
func queueAtStart(q config.Queue) config.Queue {
	q.MaxMessages, q.MinFreeDisk = 0, 0
	q.RetryMin, q.RetryMax, q.GiveUpAfter = 0, 0, 0
	return q
}
