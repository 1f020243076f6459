package config

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Links is the `links { ... }` block: the store for objects that filters
// granted "blob" hand over (attachments turned into links by
// plugins/attachlink) and the HTTP listener that serves them.
type Links struct {
	// Listen is the TCP host:port of the download server.
	Listen string
	// BaseURL starts every link ("https://files.example.com"); links are
	// BaseURL/d/TOKEN/NAME. Default: "http://" + Listen.
	BaseURL string
	// Dir holds the objects; default data_dir/links. Empty with S3.
	Dir string
	// S3, when set, keeps the objects in an S3-compatible bucket instead
	// of Dir, so that several relays can serve each other's links.
	S3 *S3Store
	// TTL is how long an object can be downloaded; a filter may ask for less.
	TTL time.Duration
	// MaxObjectBytes is the largest object stored.
	MaxObjectBytes int64
}

// S3Store is the `s3 { ... }` block of links.
type S3Store struct {
	// Endpoint is the store's host or host:port, without scheme.
	Endpoint string
	Bucket   string
	// Region is the bucket's region; "" lets the client ask the server.
	Region string
	// Prefix starts every object key ("links/").
	Prefix    string
	AccessKey string
	// SecretKey is secret_key, or the value of the environment variable
	// that SecretKeyEnv names.
	SecretKey    string
	SecretKeyEnv string
	// TLS selects https (the default) rather than http.
	TLS bool
}

var linksSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "listen", Required: true}, {Name: "base_url"}, {Name: "dir"}, {Name: "ttl"}, {Name: "max_object_size"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "s3"}},
}

var s3Schema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "endpoint", Required: true}, {Name: "bucket", Required: true}, {Name: "region"}, {Name: "prefix"},
	{Name: "access_key", Required: true}, {Name: "secret_key"}, {Name: "secret_key_env"}, {Name: "tls"},
}}

func (d *decoder) links(b *hcl.Block, dataDir string) *Links {
	l := &Links{TTL: 7 * 24 * time.Hour, MaxObjectBytes: 100 << 20}
	c := d.content(b.Body, linksSchema)
	a := c.Attributes
	if network, addr, ok := d.address(a["listen"], true); ok {
		if network != "tcp" {
			d.errorf(a["listen"].Expr.Range(), "Invalid address", "links listen must be a TCP host:port.")
		}
		l.Listen = addr
	}
	if d.nonEmpty(a["base_url"], &l.BaseURL) {
		u, err := url.Parse(l.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || len(l.BaseURL) > 1024 {
			d.errorf(a["base_url"].Expr.Range(), "Invalid URL", "base_url %q must be an absolute http:// or https:// URL without query, at most 1024 bytes.", l.BaseURL)
		}
	} else if l.Listen != "" {
		l.BaseURL = "http://" + l.Listen
	}
	l.Dir = filepath.Join(dataDir, "links")
	if d.nonEmpty(a["dir"], &l.Dir) {
		l.Dir = d.path(l.Dir)
	}
	d.duration(a["ttl"], &l.TTL)
	d.size(a["max_object_size"], &l.MaxObjectBytes)
	if sb := d.single(c.Blocks.OfType("s3")); sb != nil {
		if dir := a["dir"]; dir != nil {
			d.errorf(dir.Range, "Conflicting storage", "links keeps its objects either in dir or in the s3 block at %s, not both.", pos(sb.DefRange))
		}
		l.S3, l.Dir = d.s3(sb), ""
	}
	return l
}

// bucketName is S3's rule for new buckets: 3 to 63 lower-case letters,
// digits, dots and hyphens, a letter or digit at each end.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// regionName is a region such as us-east-1 or fr-par.
var regionName = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

func (d *decoder) s3(b *hcl.Block) *S3Store {
	s := &S3Store{TLS: true}
	a := d.content(b.Body, s3Schema).Attributes
	if d.nonEmpty(a["endpoint"], &s.Endpoint) {
		hostPort := s.Endpoint
		if _, _, err := net.SplitHostPort(hostPort); err != nil {
			hostPort = net.JoinHostPort(s.Endpoint, "443")
		}
		if strings.Contains(s.Endpoint, "/") {
			d.errorf(a["endpoint"].Expr.Range(), "Invalid endpoint", "endpoint %q: want host or host:port, without scheme or path (tls chooses https or http).", s.Endpoint)
		} else if _, _, err := parseAddress(hostPort, false); err != nil {
			d.errorf(a["endpoint"].Expr.Range(), "Invalid endpoint", "endpoint %q: %v; want host or host:port (IPv6 as [::1]:port).", s.Endpoint, err)
		}
	}
	if d.nonEmpty(a["bucket"], &s.Bucket) && (!bucketName.MatchString(s.Bucket) || strings.Contains(s.Bucket, "..")) {
		d.errorf(a["bucket"].Expr.Range(), "Invalid bucket name", "bucket %q: want 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit.", s.Bucket)
	}
	if d.nonEmpty(a["region"], &s.Region) && !regionName.MatchString(s.Region) {
		d.errorf(a["region"].Expr.Range(), "Invalid region", "region %q: want lower-case letters, digits and hyphens, such as us-east-1.", s.Region)
	}
	if d.str(a["prefix"], &s.Prefix) {
		if len(s.Prefix) > 512 || strings.HasPrefix(s.Prefix, "/") || strings.IndexFunc(s.Prefix, unicode.IsControl) >= 0 || !utf8.ValidString(s.Prefix) {
			d.errorf(a["prefix"].Expr.Range(), "Invalid prefix", "prefix %q: want at most 512 bytes of UTF-8 without control characters, not starting with /, such as \"links/\".", s.Prefix)
		}
	}
	d.nonEmpty(a["access_key"], &s.AccessKey)
	key, env := a["secret_key"], a["secret_key_env"]
	switch {
	case key != nil && env != nil:
		d.errorf(env.Range, "Conflicting secret", "s3 takes secret_key or secret_key_env, not both.")
	case key != nil:
		d.nonEmpty(key, &s.SecretKey)
		d.inlineSecret(key)
	case env != nil:
		if d.nonEmpty(env, &s.SecretKeyEnv) && !d.noSecrets {
			if s.SecretKey = os.Getenv(s.SecretKeyEnv); s.SecretKey == "" {
				d.errorf(env.Expr.Range(), "Missing secret", "The environment variable %s (secret_key_env) is not set or empty.", s.SecretKeyEnv)
			}
		}
	default:
		d.errorf(b.DefRange, "Missing secret", "s3 needs secret_key, or secret_key_env naming an environment variable that holds it.")
	}
	d.boolean(a["tls"], &s.TLS)
	return s
}
