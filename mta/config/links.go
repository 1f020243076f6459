package config

import (
	"net/url"
	"path/filepath"
	"time"

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
	// Dir holds the objects; default data_dir/links.
	Dir string
	// TTL is how long an object can be downloaded; a filter may ask for less.
	TTL time.Duration
	// MaxObjectBytes is the largest object stored.
	MaxObjectBytes int64
}

var linksSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "listen", Required: true}, {Name: "base_url"}, {Name: "dir"}, {Name: "ttl"}, {Name: "max_object_size"},
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
	return l
}
