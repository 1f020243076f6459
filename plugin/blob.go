package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/sluice-mail/sluice/internal/base64lax"
	"github.com/sluice-mail/sluice/sdk/abi"
)

// BlobStore keeps the objects that filters granted "blob" store with
// blob_put, and says where each can be downloaded (mta/links implements it).
type BlobStore interface {
	Put(ctx context.Context, r io.Reader, filename, contentType string, ttl time.Duration) (abi.BlobInfo, error)
}

// A BlobStore error with a TooLarge() method returning true (the store's
// size limit) becomes abi.ErrTooLarge for the guest.
type tooLarge interface{ TooLarge() bool }

// maxBlobData bounds the bytes a guest may pass directly (a part is read
// by the host and bounded only by the store).
const maxBlobData = 16 << 20

// hostBlobPut is blob_put(req, req_len, data, data_len, buf, cap): store a
// part of the current message, or the data bytes, and answer a BlobInfo.
func hostBlobPut(ctx context.Context, m api.Module, rp, rn, dp, dn, buf, capacity uint32) int32 {
	st := enter(ctx)
	if st == nil {
		return abi.ErrUnavailable
	}
	if !st.f.grantBlob {
		return abi.ErrDenied
	}
	store := st.f.host.opts.Blobs
	if store == nil {
		return abi.ErrUnavailable
	}
	if rn > 64<<10 {
		return abi.ErrTooLarge
	}
	raw, ok := readGuest(m, rp, rn)
	var req abi.BlobRequest
	if !ok || json.Unmarshal(raw, &req) != nil || req.TTLSeconds < 0 || len(req.Filename) > 255 || len(req.ContentType) > 255 {
		return abi.ErrInvalid
	}
	var src io.Reader
	var bound int64 // the most the object can be: a part decodes to at most its encoded size
	switch {
	case req.Part != "":
		if dn != 0 {
			return abi.ErrInvalid
		}
		if st.msg == nil {
			return abi.ErrUnavailable
		}
		var p *part
		for i := range st.parts {
			if st.parts[i].Path == req.Part {
				p = &st.parts[i]
			}
		}
		if p == nil || p.Multipart {
			return abi.ErrNotFound
		}
		src = decodeTransfer(p.Encoding, io.NewSectionReader(st.msg.Body, p.bodyStart, p.end-p.bodyStart))
		bound = p.end - p.bodyStart
	default:
		if dn > maxBlobData {
			return abi.ErrTooLarge
		}
		data, ok := readGuest(m, dp, dn)
		if !ok {
			return abi.ErrInvalid
		}
		src = bytes.NewReader(data)
		bound = int64(dn)
	}
	// The quotas: blob_message_quota for this event, blob_quota for the
	// filter's unexpired objects. Reserve what the object may need (or
	// what is left) before storing, so concurrent calls cannot overrun.
	want := min(bound, max(st.f.blobMessageQuota-st.blobBytes, 0))
	usage := st.f.host.blobUsage
	reserved := usage.reserve(st.f.name, st.f.blobQuota, want)
	if reserved < bound {
		if reserved == 0 {
			st.f.log.Debug("blob_put refused: quota used up", "part", req.Part)
			return abi.ErrTooLarge
		}
		src = &quotaReader{r: src, max: reserved}
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if req.TTLSeconds > int64(100*365*24*time.Hour/time.Second) {
		ttl = 0 // the store's own limit
	}
	info, err := store.Put(ctx, src, req.Filename, req.ContentType, ttl)
	if q, ok := src.(*quotaReader); ok && q.over {
		err = errBlobQuota
	}
	if err != nil {
		usage.settle(st.f.name, reserved, 0, time.Time{})
	} else {
		expires, perr := time.Parse(time.RFC3339, info.Expires)
		if perr != nil {
			expires = time.Now().Add(24 * time.Hour)
		}
		usage.settle(st.f.name, reserved, info.Size, expires)
		st.blobBytes += info.Size
	}
	var tl tooLarge
	if errors.As(err, &tl) && tl.TooLarge() {
		if errors.Is(err, errBlobQuota) {
			st.f.log.Debug("blob_put refused: over quota", "part", req.Part)
		}
		return abi.ErrTooLarge
	} else if err != nil {
		st.f.log.Error("blob_put failed", "error", err)
		return abi.ErrFailed
	}
	out, _ := json.Marshal(info)
	st.f.log.Debug("blob stored", "part", req.Part, "size", info.Size, "sha256", info.SHA256, "expires", info.Expires)
	return writeOut(m, buf, capacity, out)
}

// decodeTransfer undoes a Content-Transfer-Encoding. Base64 is decoded
// leniently (line breaks and stray characters skipped), as mail readers do.
func decodeTransfer(enc string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		return base64lax.NewDecoder(r)
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}
