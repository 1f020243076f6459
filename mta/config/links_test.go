package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLinks(t *testing.T) {
	t.Setenv("SLUICE_TEST_S3_SECRET", "from-env")
	const head = "listener \"smtp\" { address = \"127.0.0.1:2525\" }\ndomain \"localhost\" {\n  deliver \"maildir\" {}\n}\n"
	for _, tc := range []struct {
		name, block string
		want        Links
	}{
		{"dir", `links {
  listen = "127.0.0.1:8025"
}`, Links{Listen: "127.0.0.1:8025", BaseURL: "http://127.0.0.1:8025", Dir: "/var/lib/sluice/links", TTL: 168 * time.Hour, MaxObjectBytes: 100 << 20}},
		{"s3", `links {
  listen   = "127.0.0.1:8025"
  base_url = "https://files.example"
  ttl      = "24h"
  s3 {
    endpoint   = "s3.example.net"
    bucket     = "mail-links"
    region     = "eu-west-3"
    prefix     = "relay/"
    access_key = "AK"
    secret_key = "s3cr3t"
  }
}`, Links{Listen: "127.0.0.1:8025", BaseURL: "https://files.example", TTL: 24 * time.Hour, MaxObjectBytes: 100 << 20,
			S3: &S3Store{Endpoint: "s3.example.net", Bucket: "mail-links", Region: "eu-west-3", Prefix: "relay/", AccessKey: "AK", SecretKey: "s3cr3t", TLS: true}}},
		{"s3 secret from the environment, http", `links {
  listen = "127.0.0.1:8025"
  s3 {
    endpoint       = "127.0.0.1:9000"
    bucket         = "links"
    access_key     = "AK"
    secret_key_env = "SLUICE_TEST_S3_SECRET"
    tls            = false
  }
}`, Links{Listen: "127.0.0.1:8025", BaseURL: "http://127.0.0.1:8025", TTL: 168 * time.Hour, MaxObjectBytes: 100 << 20,
			S3: &S3Store{Endpoint: "127.0.0.1:9000", Bucket: "links", AccessKey: "AK", SecretKey: "from-env", SecretKeyEnv: "SLUICE_TEST_S3_SECRET"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, diags := Parse([]byte("data_dir = \"/var/lib/sluice\"\n"+head+tc.block), "links.hcl", "/etc/sluice")
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if !reflect.DeepEqual(*c.Links, tc.want) {
				t.Errorf("got  %+v %+v\nwant %+v %+v", *c.Links, c.Links.S3, tc.want, tc.want.S3)
			}
			var b strings.Builder
			c.WriteSummary(&b)
			if strings.Contains(b.String(), "s3cr3t") || strings.Contains(b.String(), "from-env") {
				t.Errorf("summary shows the secret:\n%s", b.String())
			}
		})
	}
}
