package config

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestBadConfigs checks that each file in testdata/bad produces exactly the
// diagnostics its "# want: file:line:col: summary; detail" comments list, in
// order (each want is a prefix of FormatDiagnostic's line). A file with any
// error must yield no Config.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs: %v", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".hcl"), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wants := wantLines(src)
			if len(wants) == 0 {
				t.Fatal("no # want: lines")
			}
			c, diags := Parse(src, name, filepath.Dir(path))
			var got []string
			for _, d := range diags {
				got = append(got, FormatDiagnostic(d))
			}
			if len(got) != len(wants) {
				t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(wants), strings.Join(got, "\n"))
			}
			for i, w := range wants {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("diagnostic %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
			if diags.HasErrors() != (c == nil) {
				t.Errorf("errors %v but config %v", diags.HasErrors(), c)
			}
			// Every diagnostic must render with its source line.
			var b bytes.Buffer
			if err := WriteDiagnostics(&b, diags, map[string]*hcl.File{name: {Bytes: src}}); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(b.String(), "^"); n < len(diags) {
				t.Errorf("%d diagnostics but %d carets:\n%s", len(diags), n, b.String())
			}
		})
	}
}

func wantLines(src []byte) []string {
	var wants []string
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		if w, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
			wants = append(wants, strings.TrimSpace(w))
		}
	}
	return wants
}

// FuzzParse checks that no input makes Parse panic, and that a Config comes
// back exactly when there are no errors.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"testdata/bad/*.hcl", "testdata/good/*.hcl"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			src, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Add(defaultHCL)
	f.Fuzz(func(t *testing.T, src []byte) {
		c, diags := Parse(src, "fuzz.hcl", "/base")
		if diags.HasErrors() != (c == nil) {
			t.Fatalf("errors %v but config %v", diags.HasErrors(), c)
		}
		var b bytes.Buffer
		if err := WriteDiagnostics(&b, diags, map[string]*hcl.File{"fuzz.hcl": {Bytes: src}}); err != nil {
			t.Fatal(err)
		}
		if c != nil {
			b.Reset()
			if err := c.WriteSummary(&b); err != nil {
				t.Fatal(err)
			}
		}
	})
}
