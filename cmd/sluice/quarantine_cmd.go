package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"

	"github.com/sluice-mail/sluice/mta/control"
	"github.com/sluice-mail/sluice/mta/queue"
)

const quarantineUsage = `usage: sluice quarantine [-config FILE] [-json] COMMAND
  list          every quarantined message: age, sender, recipients
  show ID       one message's envelope and header
  release ID    move it into the queue for delivery
  delete ID     remove it for good
Messages land in <data_dir>/quarantine when a filter answers "quarantine".
release talks to the running server through its control socket, or moves the
message into the stopped server's spool.
`

func quarantineCommand(args []string, stdout, stderr io.Writer) int {
	a, ok := parseAdminArgs(args, quarantineUsage,
		map[string][2]int{"list": {0, 0}, "show": {1, 1}, "release": {1, 1}, "delete": {1, 1}}, stderr, nil)
	if !ok {
		return 2
	}
	op, id, asJSON := a.op, a.id, a.json
	cfg, ok := loadConfig(a.config, stderr)
	if !ok {
		return 1
	}
	// The quarantine directory appears with the first quarantined message;
	// the queue directory tells whether this data_dir is a server's at all.
	if _, err := queueDir(cfg.DataDir); err != nil {
		fmt.Fprintf(stderr, "sluice quarantine %s: %v\n", op, err)
		return 1
	}
	qdir := filepath.Join(cfg.DataDir, "quarantine")
	var err error
	switch op {
	case "list":
		var envs []*queue.Envelope
		if envs, err = queue.ListQuarantine(qdir); err == nil {
			(&queueOutput{w: stdout, json: asJSON, empty: "No message is quarantined."}).list(envs, time.Now())
		}
	case "show":
		var d *queue.Detail
		if d, err = queue.ShowQuarantined(qdir, id); err == nil {
			(&queueOutput{w: stdout, json: asJSON}).show(d, time.Now())
		}
	case "delete":
		if err = queue.DeleteQuarantined(qdir, id); err == nil {
			printDone(stdout, asJSON, id+": deleted from quarantine")
		}
	case "release":
		if err = releaseQuarantined(cfg.DataDir, qdir, id); err == nil {
			printDone(stdout, asJSON, id+": released into the queue")
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice quarantine %s: %v\n", op, err)
		return 1
	}
	return 0
}

// releaseQuarantined uses the running server if its socket answers, else
// the stopped server's spool.
func releaseQuarantined(dataDir, qdir, id string) error {
	sock := controlSocket(dataDir)
	if c, err := net.DialTimeout("unix", sock, 2*time.Second); err == nil {
		c.Close()
		return (&control.Client{Path: sock}).ReleaseQuarantined(id)
	}
	s, err := queue.OpenSpool(filepath.Join(dataDir, "queue"))
	if err != nil {
		return err
	}
	defer s.Close()
	return s.ReleaseQuarantined(qdir, id)
}

func printDone(w io.Writer, asJSON bool, msg string) {
	if asJSON {
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "message": msg})
		return
	}
	fmt.Fprintln(w, msg)
}
