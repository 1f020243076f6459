package config_test

import (
	"fmt"
	"os"

	"github.com/sluice-mail/sluice/mta/config"
)

// This is all of `sluice check-config FILE`: every problem with its place
// and source line, or the effective configuration.
func Example_checkConfig() {
	cfg, diags := config.Load("testdata/bad/unknown-attribute.hcl")
	config.WriteDiagnostics(os.Stdout, diags, nil)
	if diags.HasErrors() {
		fmt.Println("configuration has errors")
		return
	}
	cfg.WriteSummary(os.Stdout)
	// Output:
	// testdata/bad/unknown-attribute.hcl:8:3: Unsupported argument; An argument named "levle" is not expected here. Did you mean "level"?
	//     8 |   levle = "info"
	//       |   ^^^^^
	// configuration has errors
}
