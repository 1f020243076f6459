package config

import (
	"reflect"
	"testing"
)

func TestSigningKeys(t *testing.T) {
	src := `
listener "smtp" { address = "127.0.0.1:2525" }
filter "dkim" {
  wasm         = "dkim.wasm"
  grants       = ["dns", "sign"]
  signing_keys = {
    "example.org/s2" = "/etc/sluice/dkim/example.org.s2.pem"
    "example.com/s1" = "dkim/example.com.s1.pem"
  }
}
domain "localhost" {
  filters = ["dkim"]
  deliver "maildir" {}
}
`
	c, diags := Parse([]byte(src), "sign.hcl", "/etc/sluice")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	f, _ := c.FilterByName("dkim")
	want := []SigningKey{
		{Name: "example.com/s1", Path: "/etc/sluice/dkim/example.com.s1.pem"},
		{Name: "example.org/s2", Path: "/etc/sluice/dkim/example.org.s2.pem"},
	}
	if !reflect.DeepEqual(f.SigningKeys, want) {
		t.Errorf("SigningKeys = %+v, want %+v", f.SigningKeys, want)
	}
}
