package relay

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/mta/config"
)

// TestFilterSpecsEveryField: FilterSpecs carries every field of a filter
// block, so that a setting added to config.Filter and not to
// plugin.FilterSpec (or not mapped) fails here rather than being dropped.
func TestFilterSpecsEveryField(t *testing.T) {
	f := config.Filter{
		Name: "f", Wasm: "f.wasm", Builtin: "spam", Stages: []string{"data"},
		Timeout: time.Second, MemoryBytes: 1 << 20, OnError: "reject",
		ConfigJSON: []byte(`{"a":1}`), Grants: []string{"dns"}, Files: []string{"/etc/f"},
		SocketEndpoint: "unix:/run/s", HTTPEndpoint: "https://h.example/",
		SigningKeys: []config.SigningKey{{Name: "example.com/s", Path: "/k.pem"}},
		Resolver:    "192.0.2.1:53", DNSZones: []string{"zen.spamhaus.org"},
		BlobQuota: 1, BlobMessageQuota: 2,
	}
	cv := reflect.ValueOf(f)
	for i := range cv.NumField() {
		if cv.Field(i).IsZero() {
			t.Fatalf("the test leaves config.Filter.%s zero: set it", cv.Type().Field(i).Name)
		}
	}
	specs := FilterSpecs([]config.Filter{f})
	if len(specs) != 1 {
		t.Fatalf("%d specs for one filter", len(specs))
	}
	sv := reflect.ValueOf(specs[0])
	if sv.NumField() != cv.NumField() {
		t.Errorf("plugin.FilterSpec has %d fields, config.Filter %d", sv.NumField(), cv.NumField())
	}
	for i := range cv.NumField() {
		name := cv.Type().Field(i).Name
		got := sv.FieldByName(name)
		if !got.IsValid() {
			t.Errorf("plugin.FilterSpec has no field %s", name)
			continue
		}
		if want := fmt.Sprint(cv.Field(i).Interface()); fmt.Sprint(got.Interface()) != want {
			t.Errorf("%s = %v, want %s", name, got.Interface(), want)
		}
	}
}
