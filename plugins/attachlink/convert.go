package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/sdk"
	"github.com/sluice-mail/sluice/sdk/abi"
)

// maxResultBody is the largest new body the filter answers: the host
// takes results of at most abi.MaxResultBytes (16 MiB), in which the body
// travels base64-encoded, with room to spare for the rest of the result.
const maxResultBody = abi.MaxResultBytes/4*3 - 1<<20

// message is what convert needs of a data event, so tests can supply it.
type message struct {
	Txn      sdk.Txn
	Header   sdk.Header
	Parts    []sdk.Part
	Body     io.ReaderAt
	BodySize int64
}

// storeFunc stores a part and returns its link (sdk.DataEvent.StorePart).
type storeFunc func(p sdk.Part, filename, contentType string, ttl time.Duration) (*sdk.BlobInfo, error)

// result is the rewrite convert decided on: a new body and, for a
// single-part message whose body itself was the attachment, new MIME
// header fields.
type result struct {
	Body    []byte
	Headers [][2]string // set; an empty value removes
	Stored  []stored
}

func (r *result) changes() *sdk.Changes {
	c := new(sdk.Changes)
	for _, h := range r.Headers {
		if h[1] == "" {
			c.RemoveHeader(h[0])
		} else {
			c.SetHeader(h[0], h[1])
		}
	}
	return c.ReplaceBody(r.Body)
}

// plan picks, stores and replaces the attachments of m. It returns nil
// when the message is to pass unchanged, with notes saying why.
func plan(m message, s *settings, store storeFunc) (*result, []string, error) {
	var notes []string
	single := true
	hasHTML := false
	for _, p := range m.Parts {
		if p.Path != "1" || p.Multipart {
			single = false
		}
		if p.ContentType == "text/html" {
			hasHTML = true
		}
	}
	var todo []sdk.Part
	for _, p := range m.Parts {
		if s.candidate(p, single) {
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		return nil, nil, nil
	}
	if m.Header.Has("DKIM-Signature") && !s.dkimConv {
		return nil, []string{fmt.Sprintf("%d attachment(s) left in a DKIM-signed message (set dkim = \"convert\" to convert anyway)", len(todo))}, nil
	}
	for _, r := range m.Txn.Recipients {
		if d := sdk.AddressDomain(r.Addr); s.exempt[d] {
			return nil, []string{fmt.Sprintf("%d attachment(s) left: recipient %s is in exempt domain %s", len(todo), r.Addr, d)}, nil
		}
	}
	spans, err := partSpans(m.Parts, m.BodySize)
	if err != nil {
		return nil, nil, err
	}
	// The new body goes back whole in the result: if what stays would not
	// fit, the host would refuse the result and the message would be
	// tempfailed at every retry. Leave it whole, before storing anything.
	if keep := keptSize(m.BodySize, spans, todo); keep > maxResultBody {
		return nil, []string{fmt.Sprintf("%d attachment(s) left, message left whole: the rest of the body (%d bytes) is more than a filter may send back (%d)", len(todo), keep, maxResultBody)}, nil
	}
	repl := map[string]stored{}
	var res result
	for _, p := range todo {
		ct := p.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		info, err := store(p, p.Filename, ct, s.ttl)
		if err != nil {
			notes = append(notes, fmt.Sprintf("part %s (%s) left in the message: storing it failed: %v", p.Path, p.Filename, err))
			continue
		}
		a := stored{Path: p.Path, Filename: p.Filename, ContentType: ct, Info: *info}
		repl[p.Path] = a
		res.Stored = append(res.Stored, a)
		notes = append(notes, fmt.Sprintf("part %s (%s, %d bytes, sha256 %s) replaced by a link expiring %s", p.Path, p.Filename, info.Size, info.SHA256, info.Expires))
	}
	if len(repl) == 0 {
		return nil, notes, nil
	}
	withHTML := hasHTML && s.html
	if single {
		h, b := entity(res.Stored[0], withHTML)
		res.Body = append(b, '\r', '\n')
		res.Headers = append(res.Headers, [2]string{"MIME-Version", "1.0"}, [2]string{"Content-Disposition", ""})
		for _, f := range h {
			name, val, _ := strings.Cut(f, ": ")
			res.Headers = append(res.Headers, [2]string{name, val})
		}
		if !withHTML {
			return &res, notes, nil
		}
		res.Headers = append(res.Headers, [2]string{"Content-Transfer-Encoding", "7bit"})
		return &res, notes, nil
	}
	res.Body, err = rebuild(m.Body, m.BodySize, spans, repl, withHTML)
	if err != nil {
		return nil, notes, err
	}
	return &res, notes, nil
}

func convert(e *sdk.DataEvent, s *settings, store storeFunc) (*sdk.Changes, []string, error) {
	m := message{Txn: e.Txn, Header: e.Header, Parts: e.Parts, Body: e.Body(), BodySize: e.BodySize}
	r, notes, err := plan(m, s, store)
	if err != nil || r == nil {
		return nil, notes, err
	}
	return r.changes(), notes, nil
}

// noticeRoom bounds the size of one notice entity (text and HTML, quoted-printable).
const noticeRoom = 8 << 10

// keptSize is the size of the body once the parts of todo are cut out and
// their notices put in, at most.
func keptSize(bodySize int64, spans []span, todo []sdk.Part) int64 {
	n := bodySize
	for _, p := range todo {
		for _, s := range spans {
			if s.Path == p.Path {
				n -= s.End - s.HdrStart
			}
		}
		n += noticeRoom
	}
	return n
}
