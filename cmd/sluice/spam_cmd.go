package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-mail/sluice/mta/config"
	"github.com/sluice-mail/sluice/plugin"
	"github.com/sluice-mail/sluice/plugins/spam/bayes"
)

const spamUsage = `usage: sluice spam train -spam PATH -ham PATH [-config FILE | -data-dir DIR] [-filter NAME] [-reset]

Trains the spam filter's Bayesian classifier on mail sorted by hand. Each
PATH (repeatable) is a directory of one-message files (searched
recursively), an mbox file, or a single message. The token counts are
added to those already in the filter's key-value store
(DATA_DIR/plugin-kv/NAME), unless -reset; a running relay picks the new
model up at its next message.
`

// spamCommand dispatches "sluice spam ...".
func spamCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "train" {
		fmt.Fprint(stderr, spamUsage)
		return 2
	}
	return spamTrainCommand(args[1:], stdout, stderr)
}

func spamTrainCommand(args []string, stdout, stderr io.Writer) int {
	flags := newFlagSet("sluice spam train")
	flags.SetOutput(stderr)
	var spamPaths, hamPaths stringList
	flags.Var(&spamPaths, "spam", "spam: a directory, an mbox or a message (repeatable)")
	flags.Var(&hamPaths, "ham", "ham: a directory, an mbox or a message (repeatable)")
	cfgFile := flags.String("config", "", "the relay's configuration file (for data_dir)")
	dataDir := flags.String("data-dir", "", "the relay's data_dir (instead of -config)")
	filter := flags.String("filter", "spam", "name of the spam filter block")
	reset := flags.Bool("reset", false, "forget the previous training")
	maxBody := flags.Int("max-body", 256<<10, "body bytes read per message (match the filter's max_body)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 || len(spamPaths)+len(hamPaths) == 0 || (*cfgFile != "") == (*dataDir != "") {
		fmt.Fprint(stderr, spamUsage)
		return 2
	}
	dir := *dataDir
	if *cfgFile != "" {
		cfg, diags := config.Load(*cfgFile)
		if diags.HasErrors() {
			fmt.Fprintf(stderr, "sluice spam train: %s\n", diags.Error())
			return 1
		}
		dir = cfg.DataDir
		found := false
		for _, f := range cfg.Filters {
			found = found || f.Name == *filter
		}
		if !found {
			fmt.Fprintf(stderr, "sluice spam train: %s has no filter %q\n", *cfgFile, *filter)
			return 1
		}
	}
	kv, err := plugin.OpenKV(dir, *filter)
	if err != nil {
		fmt.Fprintf(stderr, "sluice spam train: %v\n", err)
		return 1
	}
	store := kvStore{kv}
	notFound := func(err error) bool { return errors.Is(err, fs.ErrNotExist) }
	old, err := bayes.ReadMeta(store, notFound)
	hadOld := err == nil
	if err != nil && !errors.Is(err, bayes.ErrNoModel) {
		fmt.Fprintf(stderr, "sluice spam train: %v\n", err)
		return 1
	}
	model := bayes.NewModel()
	if hadOld && !*reset {
		if model, err = bayes.Load(store, old); err != nil {
			fmt.Fprintf(stderr, "sluice spam train: %v (use -reset to start over)\n", err)
			return 1
		}
		model.Thaw()
	}
	counts := map[bool]int{}
	for _, set := range []struct {
		paths []string
		spam  bool
	}{{spamPaths, true}, {hamPaths, false}} {
		for _, p := range set.paths {
			err := eachMessage(p, func(raw []byte) {
				model.Learn(bayes.MessageTokens(raw, *maxBody), set.spam)
				counts[set.spam]++
			})
			if err != nil {
				fmt.Fprintf(stderr, "sluice spam train: %v\n", err)
				return 1
			}
		}
	}
	meta, err := bayes.Save(store, model, old, hadOld)
	if err != nil {
		fmt.Fprintf(stderr, "sluice spam train: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "learned %d spam and %d ham; the model now holds %d spam, %d ham, %d tokens (generation %d)\n",
		counts[true], counts[false], meta.NSpam, meta.NHam, meta.Tokens, meta.Gen)
	return 0
}

// kvStore adapts plugin.KV to bayes.Store.
type kvStore struct{ kv *plugin.KV }

func (s kvStore) Get(k string) ([]byte, error) { return s.kv.Get(k) }
func (s kvStore) Put(k string, v []byte) error { return s.kv.Put(k, v) }
func (s kvStore) Delete(k string) error        { return s.kv.Delete(k) }

// maxMessageFile bounds what is read of one file (an mbox may be large).
const maxMessageFile = 1 << 30

// eachMessage calls fn for every message under path: the files of a
// directory (recursively, hidden files skipped), the messages of an mbox,
// or one message.
func eachMessage(path string, fn func([]byte)) error {
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != path {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		raw, err := io.ReadAll(io.LimitReader(f, maxMessageFile))
		f.Close()
		if err != nil {
			return err
		}
		if bayes.IsMbox(raw) {
			for _, m := range bayes.SplitMbox(raw) {
				fn(m)
			}
			return nil
		}
		fn(raw)
		return nil
	})
}
