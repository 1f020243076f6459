package links

import "github.com/sluice-mail/sluice/mta/config"

// OptionsFor returns the Options of a links block.
func OptionsFor(lc *config.Links) Options {
	opts := Options{Dir: lc.Dir, BaseURL: lc.BaseURL, TTL: lc.TTL, MaxSize: lc.MaxObjectBytes}
	if s := lc.S3; s != nil {
		opts.S3 = &S3{Endpoint: s.Endpoint, Bucket: s.Bucket, Region: s.Region, Prefix: s.Prefix,
			AccessKey: s.AccessKey, SecretKey: s.SecretKey, TLS: s.TLS}
	}
	return opts
}
