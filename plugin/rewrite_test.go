package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// memoryRewriter applies message changes to an in-memory copy of a message,
// as the relay does to its spool file, and counts the rewrites.
type memoryRewriter struct {
	msg   []byte
	calls int
}

func (m *memoryRewriter) rewrite(ch *Changes) (*Message, error) {
	var b bytes.Buffer
	if err := Apply(ch, bytes.NewReader(m.msg), &b); err != nil {
		return nil, err
	}
	m.msg, m.calls = b.Bytes(), m.calls+1
	return ReadMessage(bytes.NewReader(m.msg), int64(len(m.msg)))
}

// TestDataWithRewrite: each filter sees the message as the filters before
// it left it, two filters may both replace the body, and only the changes
// no later filter saw are returned. Data, without a rewriter, keeps every
// filter on the original message and refuses the colliding body change.
func TestDataWithRewrite(t *testing.T) {
	h := newTestHost(t,
		behave(t, "first", v{"changes": []v{{"op": "body", "value": "first body\r\n"}, {"op": "set", "name": "Subject", "value": "tagged"}}}, nil),
		behave(t, "pass", v{}, nil),
		behave(t, "second", v{"mode": "body", "changes": []v{{"op": "body", "value": "second body\r\n"}}}, nil),
		behave(t, "echo", v{"mode": "echo"}, nil),
	)
	ctx := context.Background()
	sum := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return fmt.Sprintf("%d %s <nil>", len(s), hex.EncodeToString(h[:]))
	}

	rw := &memoryRewriter{msg: []byte(simpleMsg)}
	v, ch := h.chain(t, "first", "pass", "second").DataWithRewrite(ctx, testTxn(), testMessage(t, simpleMsg), rw.rewrite)
	if v.Action != Continue || v.Reason != "" {
		t.Fatalf("verdict %+v", v)
	}
	if rw.calls != 1 {
		t.Errorf("%d rewrites, want 1 (after first; none after the last filter)", rw.calls)
	}
	// The rewritten message is what second saw: first's body and subject.
	if !strings.Contains(string(rw.msg), "Subject: tagged\r\n") || !strings.HasSuffix(string(rw.msg), "\r\n\r\nfirst body\r\n") {
		t.Errorf("after first: %q", rw.msg)
	}
	// Only second's changes are left, and it read first's body (X-Body: its
	// length and hash; X-Part: the one part's content).
	if !ch.ReplaceBody || string(ch.Body) != "second body\r\n" || len(ch.Headers) != 2 ||
		ch.Headers[0].Value != sum("first body\r\n") || ch.Headers[1].Value != `1 text/plain "first body" <nil>` {
		t.Errorf("changes left: %+v", ch)
	}

	// A verdict after a rewrite: echo reports the subject it was given.
	rw = &memoryRewriter{msg: []byte(simpleMsg)}
	v, _ = h.chain(t, "first", "echo").DataWithRewrite(ctx, testTxn(), testMessage(t, simpleMsg), rw.rewrite)
	if !strings.Contains(v.Text, "subject=tagged") {
		t.Errorf("echo after first: %+v", v)
	}

	// Without a rewriter every filter sees the original, and second's body
	// change collides with first's: second fails (on_error tempfail).
	v, _ = h.chain(t, "first", "second").Data(ctx, testTxn(), testMessage(t, simpleMsg))
	if v.Action != Tempfail || v.Filter != "second" || !strings.Contains(v.Reason, "collides") {
		t.Errorf("merged: %+v", v)
	}

	// A rewrite that fails tempfails the message, naming the filter whose
	// changes could not be applied.
	failing := func(*Changes) (*Message, error) { return nil, fmt.Errorf("disk full") }
	v, _ = h.chain(t, "first", "second").DataWithRewrite(ctx, testTxn(), testMessage(t, simpleMsg), failing)
	if v.Action != Tempfail || v.Code != 451 || v.Filter != "first" || !strings.Contains(v.Reason, "disk full") {
		t.Errorf("failed rewrite: %+v", v)
	}
}

// TestFailedRewriteCounted: a rewrite that fails between filters counts as
// a failure of the filter whose changes it was applying.
func TestFailedRewriteCounted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	shareCompilationCache(t, dir)
	m := NewMetrics()
	h, err := NewHost(ctx, []FilterSpec{
		behave(t, "first", v{"changes": []v{{"op": "add", "name": "X-A", "value": "1"}}}, nil),
		behave(t, "second", v{}, nil),
	}, HostOptions{DataDir: dir, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	c, _ := h.Chain([]string{"first", "second"})
	failing := func(*Changes) (*Message, error) { return nil, fmt.Errorf("disk full") }
	if v, _ := c.DataWithRewrite(ctx, testTxn(), testMessage(t, simpleMsg), failing); v.Action != Tempfail {
		t.Fatalf("verdict %+v", v)
	}
	if got := scrape(t, m)[`sluice_filter_errors_total{filter="first",stage="data",kind="other"}`]; got != 1 {
		t.Errorf("errors_total of first = %v, want 1", got)
	}
}
