package main

import (
	"fmt"

	"github.com/sluice-mail/sluice/sdk"
)

// span is one MIME entity's bytes in the body: its header starts at
// HdrStart, its content at BodyStart, and it ends at End (exclusive; the
// line break before the next delimiter belongs to the delimiter).
type span struct {
	Path                     string
	ContentType              string
	HdrStart, BodyStart, End int64
	Multipart                bool
}

// partSpans takes each part's byte range from the event, where the host
// put what its own MIME scanner found: the plugin cuts exactly the bytes
// that the host stored for a part (blob_put), never bytes of its own
// reading of a hostile structure. Ranges that do not fit the body or the
// part's size (a host older than the plugin sends none) are refused.
func partSpans(parts []sdk.Part, bodySize int64) ([]span, error) {
	out := make([]span, 0, len(parts))
	for _, p := range parts {
		if p.HeaderStart < 0 || p.HeaderStart > p.BodyStart || p.BodyStart > p.End || p.End > bodySize || p.End-p.BodyStart != p.Size {
			return nil, fmt.Errorf("part %s has no valid byte range in the event (header %d, body %d-%d, size %d, body size %d)",
				p.Path, p.HeaderStart, p.BodyStart, p.End, p.Size, bodySize)
		}
		out = append(out, span{Path: p.Path, ContentType: p.ContentType, HdrStart: p.HeaderStart, BodyStart: p.BodyStart, End: p.End, Multipart: p.Multipart})
	}
	return out, nil
}
