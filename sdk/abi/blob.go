package abi

// BlobRequest is the argument of blob_put (a host function the operator
// grants with "blob"; optional, added to ABI v1 without a version change).
// With Part set, the host stores that MIME part of the current message
// with its Content-Transfer-Encoding undone, and the data argument must be
// empty; otherwise it stores the data argument's bytes.
type BlobRequest struct {
	Part        string `json:"part,omitempty"`
	Filename    string `json:"filename,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	TTLSeconds  int64  `json:"ttl_seconds,omitempty"` // 0 or above the operator's ttl: the operator's ttl
}

// BlobInfo is the answer of blob_put: where the object can be downloaded.
type BlobInfo struct {
	Token   string `json:"token"`
	URL     string `json:"url"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`  // hex
	Expires string `json:"expires"` // RFC 3339, UTC
}

// MaxBlobInfoBytes bounds blob_put's answer: a buffer this large always holds it.
const MaxBlobInfoBytes = 4096

// Defaults of the "blob" grant's quotas (ABI.md section 4, blob_put): the
// bytes of a filter's objects not yet expired (blob_quota) and the bytes
// it may store while handling one event (blob_message_quota). The host
// applies them to a filter whose quotas are unset, the relay's
// configuration writes them into a filter block that sets none.
const (
	DefaultBlobQuota        = 10 << 30
	DefaultBlobMessageQuota = 64 << 20
)
