package links

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is a bucket of an S3-compatible object store that keeps a Store's
// objects, so that several relays can share them. Each object is two keys,
// Prefix+ID.data and Prefix+ID.json (the same bytes as in a directory);
// Sweep lists the keys under Prefix and touches no key of another shape.
type S3 struct {
	Endpoint  string // host or host:port, without scheme
	Bucket    string // must exist
	Region    string // "" asks the server
	Prefix    string // start of every key, such as "links/"
	AccessKey string
	SecretKey string
	TLS       bool // https rather than http
}

// s3Backend keeps each name as the object Prefix+name of a bucket.
type s3Backend struct {
	c        *minio.Client
	bucket   string
	prefix   string
	partSize uint64
}

// minPartSize is S3's smallest multipart part (the last excepted); an
// upload holds one part in memory.
const minPartSize = 5 << 20

func openS3(o S3, maxSize int64) (*s3Backend, error) {
	if strings.Contains(o.Endpoint, "/") {
		return nil, fmt.Errorf("links: s3 endpoint %q: not host[:port]", o.Endpoint)
	}
	c, err := minio.New(o.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
		Secure:     o.TLS,
		Region:     o.Region,
		MaxRetries: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("links: s3 endpoint %q: %w", o.Endpoint, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok, err := c.BucketExists(ctx, o.Bucket)
	if err != nil {
		return nil, fmt.Errorf("links: s3 bucket %q at %s: %w", o.Bucket, o.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("links: s3 bucket %q does not exist at %s", o.Bucket, o.Endpoint)
	}
	// An upload of unknown length has at most 10,000 parts.
	part := uint64(minPartSize)
	if maxSize > 0 {
		part = max(part, (uint64(maxSize)/10000+1<<20)&^(1<<20-1))
	} else {
		part = 16 << 20
	}
	return &s3Backend{c: c, bucket: o.Bucket, prefix: o.Prefix, partSize: part}, nil
}

// notExist makes a missing key's error match fs.ErrNotExist.
func notExist(err error) error {
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}

func (b *s3Backend) write(ctx context.Context, name string, r io.Reader, size int64) error {
	ct := "application/octet-stream"
	if strings.HasSuffix(name, ".json") {
		ct = "application/json"
	}
	_, err := b.c.PutObject(ctx, b.bucket, b.prefix+name, r, size,
		minio.PutObjectOptions{ContentType: ct, PartSize: b.partSize})
	return err
}

func (b *s3Backend) read(ctx context.Context, name string, limit int64) ([]byte, error) {
	obj, err := b.c.GetObject(ctx, b.bucket, b.prefix+name, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, limit+1))
	if err != nil {
		return nil, notExist(err)
	}
	return data, nil
}

// open returns a minio.Object: it reads with ranged GETs from where it
// was sought to, so http.ServeContent never holds the object whole.
func (b *s3Backend) open(ctx context.Context, name string) (io.ReadSeekCloser, error) {
	obj, err := b.c.GetObject(ctx, b.bucket, b.prefix+name, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, notExist(err)
	}
	return obj, nil
}

func (b *s3Backend) remove(ctx context.Context, name string) error {
	err := b.c.RemoveObject(ctx, b.bucket, b.prefix+name, minio.RemoveObjectOptions{})
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return nil
	}
	return err
}

func (b *s3Backend) list(ctx context.Context) ([]entry, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []entry
	for o := range b.c.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, o.Err
		}
		if name := strings.TrimPrefix(o.Key, b.prefix); isBlobName(name) {
			out = append(out, entry{name, o.LastModified})
		}
	}
	return out, nil
}

// isBlobName tells the names a Store writes (ID.data, ID.json) from
// other keys in a shared bucket.
func isBlobName(name string) bool {
	base, ok := strings.CutSuffix(name, ".data")
	if !ok {
		base, ok = strings.CutSuffix(name, ".json")
	}
	if !ok || len(base) != 64 {
		return false
	}
	for i := 0; i < len(base); i++ {
		if c := base[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
