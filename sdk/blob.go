package sdk

import (
	"encoding/json"
	"time"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// BlobInfo says where a stored object can be downloaded.
type BlobInfo = abi.BlobInfo

// StorePart asks the host to store MIME part p of the message, with its
// transfer encoding undone, and returns its download link. filename and
// contentType are served with the download; ttl ≤ 0 (or above the
// operator's) means the operator's ttl. It fails with ErrDenied unless the
// operator granted "blob", ErrUnavailable when the relay has no links
// block or outside the data stage, and ErrTooLarge above the store's
// max_object_size or past the filter's blob_quota or blob_message_quota.
func (e *DataEvent) StorePart(p Part, filename, contentType string, ttl time.Duration) (*BlobInfo, error) {
	return blobPut(abi.BlobRequest{Part: p.Path, Filename: filename, ContentType: contentType, TTLSeconds: ttlSeconds(ttl)}, nil)
}

// StoreBlob stores data (at most 16 MiB) the same way.
func StoreBlob(data []byte, filename, contentType string, ttl time.Duration) (*BlobInfo, error) {
	return blobPut(abi.BlobRequest{Filename: filename, ContentType: contentType, TTLSeconds: ttlSeconds(ttl)}, data)
}

func ttlSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

func blobPut(req abi.BlobRequest, data []byte) (*BlobInfo, error) {
	js, _ := json.Marshal(req)
	out, err := hostBlobPut(js, data)
	if err != nil {
		return nil, err
	}
	var info BlobInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return nil, err
	}
	return &info, nil
}
