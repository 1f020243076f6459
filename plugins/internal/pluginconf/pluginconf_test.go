package pluginconf

import (
	"errors"
	"testing"

	"github.com/sluice-mail/sluice/sdk"
)

// Outside the sandbox there is no configuration: AtInit gives nil, Lazy
// the SDK's error, and neither parses.
func TestOutsideSandbox(t *testing.T) {
	parse := func([]byte) (*int, error) {
		t.Fatal("parse called")
		return nil, nil
	}
	if v := AtInit("x", parse); v != nil {
		t.Errorf("AtInit = %v", v)
	}
	var c Lazy[int]
	for range 2 {
		if v, err := c.Load(parse); v != nil || !errors.Is(err, sdk.ErrNotInSandbox) {
			t.Errorf("Load = %v, %v", v, err)
		}
	}
}
