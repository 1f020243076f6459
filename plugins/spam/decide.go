package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-mail/sluice/plugins/internal/hdrtext"
	"github.com/sluice-mail/sluice/plugins/spam/bayes"
	"github.com/sluice-mail/sluice/sdk"
)

// Config is the filter's `config = { ... }` block (see README.md).
type Config struct {
	// Rules overrides rule weights by name; 0 turns a rule off.
	Rules map[string]float64 `json:"rules"`
	// Charsets are the charsets CHARSET_FARAWAY fires on.
	Charsets []string    `json:"charsets"`
	Bayes    BayesConfig `json:"bayes"`
	// Default applies to every recipient domain; Domains override it field by field.
	Default Actions            `json:"default"`
	Domains map[string]Actions `json:"domains"`
	// MaxBody is how many body bytes are read and scored (default 256 KiB).
	MaxBody int64 `json:"max_body"`
}

// BayesConfig tunes the classifier's share of the score.
type BayesConfig struct {
	// Weight: the classifier adds Weight*(2p-1) points for a spam
	// probability p, so from -Weight (surely ham) to +Weight (surely
	// spam). Default 10; 0 keeps the default, a negative value turns it off.
	Weight float64 `json:"weight"`
	// MinSpam and MinHam: the classifier abstains until it has been
	// trained on this many messages of each kind (default 20 each).
	MinSpam uint32 `json:"min_spam"`
	MinHam  uint32 `json:"min_ham"`
	// MaxClues: how many of the message's strongest tokens are combined
	// (default 150). MinStrength: tokens whose probability is closer
	// than this to 0.5 are ignored (default 0.1). Strength: the weight of
	// the 0.5 prior against a rare token's counts (default 0.45).
	MaxClues    int     `json:"max_clues"`
	MinStrength float64 `json:"min_strength"`
	Strength    float64 `json:"strength"`
}

// Actions are the thresholds and actions of one recipient domain. Unset
// fields take the default's value.
type Actions struct {
	// Tag: at or above this score the message is spam: X-Spam-Status Yes
	// and the subject tag (default 5).
	Tag *float64 `json:"tag"`
	// SubjectTag is put before the Subject of spam (default "[SPAM]"; "" for none).
	SubjectTag *string `json:"subject_tag"`
	// Quarantine and Reject: at or above these scores the message is held
	// or refused at DATA with 550 5.7.1 (default: never).
	Quarantine *float64 `json:"quarantine"`
	Reject     *float64 `json:"reject"`
	// Headers adds X-Spam-Score, X-Spam-Status and X-Spam-Report (default true).
	Headers *bool `json:"headers"`
}

type settings struct {
	weights  map[string]float64
	charsets map[string]bool
	params   bayes.Params
	bweight  float64
	def      Actions
	domains  map[string]Actions
	maxBody  int64
}

func parseSettings(raw []byte) (*settings, error) {
	var c Config
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	s := &settings{weights: map[string]float64{}, charsets: map[string]bool{}, params: bayes.DefaultParams,
		bweight: 10, domains: map[string]Actions{}, maxBody: 256 << 10}
	for _, r := range rules {
		s.weights[r.name] = r.weight
	}
	for name, w := range c.Rules {
		if _, ok := s.weights[name]; !ok {
			return nil, fmt.Errorf("config: rules: no rule %q", name)
		}
		s.weights[name] = w
	}
	cs := c.Charsets
	if cs == nil {
		cs = defaultCharsets
	}
	for _, x := range cs {
		s.charsets[strings.ToLower(x)] = true
	}
	if c.Bayes.Weight != 0 {
		s.bweight = math.Max(c.Bayes.Weight, 0)
	}
	if c.Bayes.MinSpam > 0 {
		s.params.MinSpam = c.Bayes.MinSpam
	}
	if c.Bayes.MinHam > 0 {
		s.params.MinHam = c.Bayes.MinHam
	}
	if c.Bayes.MaxClues > 0 {
		s.params.MaxClues = c.Bayes.MaxClues
	}
	if c.Bayes.MinStrength > 0 {
		s.params.MinStrength = min(c.Bayes.MinStrength, 0.49)
	}
	if c.Bayes.Strength > 0 {
		s.params.S = c.Bayes.Strength
	}
	five, tag, yes := 5.0, "[SPAM]", true
	s.def = Actions{Tag: &five, SubjectTag: &tag, Headers: &yes}
	s.def = merge(s.def, c.Default)
	for d, a := range c.Domains {
		s.domains[strings.ToLower(d)] = a
	}
	if c.MaxBody > 0 {
		s.maxBody = min(c.MaxBody, 16<<20)
	}
	if len(*s.def.SubjectTag) > 64 || printable(*s.def.SubjectTag) != *s.def.SubjectTag {
		return nil, fmt.Errorf("config: subject_tag: at most 64 printable ASCII characters")
	}
	return s, nil
}

func merge(base, over Actions) Actions {
	if over.Tag != nil {
		base.Tag = over.Tag
	}
	if over.SubjectTag != nil {
		base.SubjectTag = over.SubjectTag
	}
	if over.Quarantine != nil {
		base.Quarantine = over.Quarantine
	}
	if over.Reject != nil {
		base.Reject = over.Reject
	}
	if over.Headers != nil {
		base.Headers = over.Headers
	}
	return base
}

// actionsFor combines the actions of the recipients' domains. Refusing
// or holding the message affects every recipient, so each threshold is
// the most lenient of the domains (a domain without quarantine or reject
// keeps the message flowing); headers and the tag follow the first
// recipient's domain.
func (s *settings) actionsFor(rcpts []string) Actions {
	if len(rcpts) == 0 {
		return s.def
	}
	first := merge(s.def, s.domains[sdk.AddressDomain(rcpts[0])])
	out := first
	for _, r := range rcpts {
		a := merge(s.def, s.domains[sdk.AddressDomain(r)])
		out.Quarantine = lenient(out.Quarantine, a.Quarantine)
		out.Reject = lenient(out.Reject, a.Reject)
	}
	return out
}

func lenient(a, b *float64) *float64 {
	if a == nil || b == nil {
		return nil
	}
	if *b > *a {
		return b
	}
	return a
}

// verdict is the outcome of scoring one message.
type verdict struct {
	score float64
	hits  []hit
	spam  bool
	prob  float64 // classifier probability, -1 when it abstained
}

type hit struct {
	name   string
	points float64
	desc   string
}

// evaluate scores a parsed message: rules plus the classifier's points.
func (s *settings) evaluate(doc *bayes.Doc, envFrom string, model *bayes.Model, now time.Time) verdict {
	info := &msgInfo{doc: doc, envFrom: envFrom, now: now, charsets: s.charsets}
	v := verdict{prob: -1}
	for _, r := range rules {
		w := s.weights[r.name]
		if w == 0 || !r.test(info) {
			continue
		}
		v.hits = append(v.hits, hit{r.name, w, r.desc})
		v.score += w
	}
	if s.bweight > 0 && model.Ready(s.params) {
		p := model.Score(bayes.Tokens(doc), s.params)
		v.prob = p
		pts := s.bweight * (2*p - 1)
		v.hits = append(v.hits, hit{bayesName(p), pts, fmt.Sprintf("Bayesian spam probability is %.0f%%", 100*p)})
		v.score += pts
	}
	v.score = math.Round(v.score*10) / 10
	sort.SliceStable(v.hits, func(i, j int) bool { return v.hits[i].points > v.hits[j].points })
	return v
}

// bayesName buckets a probability the way SpamAssassin names its Bayes
// tests (BAYES_00 … BAYES_99).
func bayesName(p float64) string {
	for _, b := range []struct {
		lim  float64
		name string
	}{{0.01, "BAYES_00"}, {0.05, "BAYES_05"}, {0.2, "BAYES_20"}, {0.4, "BAYES_40"}, {0.6, "BAYES_50"},
		{0.8, "BAYES_60"}, {0.95, "BAYES_80"}, {0.99, "BAYES_95"}} {
		if p < b.lim {
			return b.name
		}
	}
	return "BAYES_99"
}

// answer is the plugin's decision for one message, before it becomes an
// sdk.Result (kept apart so tests can read the header changes).
type answer struct {
	action  string // continue, reject, quarantine
	score   string
	headers []headerSet
}

// headerSet sets the field Name to Value, or with Remove removes every
// field so named.
type headerSet struct {
	Name, Value string
	Remove      bool
}

func (a answer) sdkResult() sdk.Result {
	if a.action == "reject" {
		return sdk.Reject(550, "5.7.1", "Message rejected as spam (score "+a.score+")")
	}
	ch := new(sdk.Changes)
	for _, h := range a.headers {
		if h.Remove {
			ch.RemoveHeader(h.Name)
		} else {
			ch.SetHeader(h.Name, h.Value)
		}
	}
	if a.action == "quarantine" {
		return sdk.Quarantine("spam score " + a.score).With(ch)
	}
	return sdk.Continue().With(ch)
}

// subjectField is the message's Subject as the tag needs it.
type subjectField struct {
	Value    string // unfolded, as sdk.Header.Get returns it
	Present  bool
	SMTPUTF8 bool // the transaction used SMTPUTF8: the header may hold UTF-8
}

// result turns a verdict into the answer for the recipients' actions.
func (s *settings) result(v verdict, a Actions, subj subjectField) answer {
	ans := answer{action: "continue", score: strconv.FormatFloat(v.score, 'f', 1, 64)}
	if a.Reject != nil && v.score >= *a.Reject {
		ans.action = "reject"
		return ans
	}
	tag := *a.Tag
	v.spam = v.score >= tag
	if *a.Headers {
		status := "No"
		if v.spam {
			status = "Yes"
		}
		names := make([]string, len(v.hits))
		var report strings.Builder
		report.WriteString("Content analysis details:")
		for i, h := range v.hits {
			names[i] = h.name
			fmt.Fprintf(&report, "\r\n\t* %5.1f %s %s", h.points, h.name, h.desc)
		}
		if len(names) == 0 {
			names = []string{"none"}
		}
		ans.headers = append(ans.headers,
			headerSet{Name: "X-Spam-Score", Value: ans.score},
			headerSet{Name: "X-Spam-Status", Value: fmt.Sprintf("%s, score=%s required=%.1f tests=%s", status, ans.score, tag, strings.Join(names, ","))})
		// No hit, nothing to report: no empty X-Spam-Report, and none the
		// message came with left standing beside our Status.
		if len(v.hits) > 0 {
			ans.headers = append(ans.headers, headerSet{Name: "X-Spam-Report", Value: report.String()})
		} else {
			ans.headers = append(ans.headers, headerSet{Name: "X-Spam-Report", Remove: true})
		}
	}
	if v.spam && *a.SubjectTag != "" {
		if tagged, ok := tagSubject(*a.SubjectTag, subj); ok {
			ans.headers = append(ans.headers, headerSet{Name: "Subject", Value: tagged})
		}
	}
	if a.Quarantine != nil && v.score >= *a.Quarantine {
		ans.action = "quarantine"
	}
	return ans
}

// tagSubject returns the Subject with tag in front, as the host takes it
// (ABI.md 3.3); ok is false to leave the Subject alone: already tagged, too
// long (the original, under 900 bytes, keeps a raw line within 998), or
// not UTF-8. Spam often carries a raw Subject in an undeclared charset
// (Latin-1, CP1251, GB2312...): relabelled as UTF-8 or ISO-8859-1 by
// guess, or with U+FFFD for each byte, the subject the recipient sees
// would be garbled or lost, so it stays as the sender wrote it, and
// X-Spam-Status still carries the verdict. Without SMTPUTF8 a non-ASCII
// subject is written as RFC 2047 encoded-words after the ASCII tag.
func tagSubject(tag string, subj subjectField) (string, bool) {
	if !subj.Present {
		return tag, true
	}
	text := hdrtext.Clean(subj.Value)
	if strings.HasPrefix(text, tag) || len(text) >= 900 || !utf8.ValidString(text) {
		return "", false
	}
	return tag + " " + hdrtext.Text(text, len("Subject: ")+len(tag)+1, subj.SMTPUTF8), true
}

func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e {
			b.WriteByte(c)
		}
	}
	return b.String()
}
