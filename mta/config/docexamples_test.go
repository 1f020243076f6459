package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestDocExamples loads every configuration example of the READMEs (fenced
// hcl blocks, and indented blocks that start with a block of the
// configuration) the way an operator pasting it would: as its own file,
// completed with a listener, a domain and stub filters where it names
// none, so that an example sluice refuses fails here.
func TestDocExamples(t *testing.T) {
	t.Setenv("SLUICE_S3_SECRET", "secret") // the s3 example names it
	files := []string{"../../README.md"}
	for _, pattern := range []string{"../../plugins/*/README.md", "../../examples/*/README.md"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	n := 0
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range hclExamples(string(src)) {
			n++
			name := fmt.Sprintf("%s:%d", strings.TrimPrefix(file, "../../"), ex.line)
			t.Run(name, func(t *testing.T) { checkDocExample(t, name, ex.text) })
		}
	}
	if n < 10 {
		t.Errorf("found %d examples; the extraction is broken", n)
	}
	// Complete configurations next to an example.
	for _, file := range []string{"../../examples/plugin-tagger/sluice.hcl"} {
		if _, diags := Load(file); diags.HasErrors() {
			t.Errorf("%s is refused:\n%v", file, diags.Errs())
		}
	}
}

type docExample struct {
	line int // of the block's first line in its file
	text string
}

var configBlockStart = regexp.MustCompile(`^(filter|links|domain|listener|user|limits|queue|tls|log|sendmail) `)

// hclExamples returns the fenced ```hcl blocks of a Markdown text and its
// indented code blocks whose first line opens a configuration block.
func hclExamples(md string) []docExample {
	var out []docExample
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		if fence := strings.TrimSpace(lines[i]); strings.HasPrefix(fence, "```") {
			start := i + 1
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			}
			if fence == "```hcl" {
				out = append(out, docExample{start + 1, strings.Join(lines[start:min(i, len(lines))], "\n")})
			}
			continue
		}
		if !strings.HasPrefix(lines[i], "    ") || i > 0 && strings.TrimSpace(lines[i-1]) != "" {
			continue
		}
		start := i
		for i < len(lines) && (strings.HasPrefix(lines[i], "    ") || strings.TrimSpace(lines[i]) == "") {
			i++
		}
		block := lines[start:i]
		i-- // the line that ended the block may open a fence
		indent := len(block[0]) - len(strings.TrimLeft(block[0], " "))
		for j, l := range block {
			if len(l) >= indent {
				block[j] = l[indent:]
			}
		}
		if configBlockStart.MatchString(block[0]) {
			out = append(out, docExample{start + 1, strings.Join(block, "\n")})
		}
	}
	return out
}

func checkDocExample(t *testing.T, name, text string) {
	f, diags := hclsyntax.ParseConfig([]byte(text), name, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("%s does not parse:\n%v\n%s", name, diags, text)
	}
	has := map[string]bool{}
	filters := map[string]bool{}
	var named []string
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		has[b.Type] = true
		if b.Type == "filter" && len(b.Labels) == 1 {
			filters[b.Labels[0]] = true
		}
		if a, ok := b.Body.Attributes["filters"]; ok && b.Type == "domain" {
			v, _ := a.Expr.Value(nil)
			for _, e := range v.AsValueSlice() {
				named = append(named, e.AsString())
			}
		}
	}
	full := text + "\n"
	if !strings.Contains(text, "data_dir") {
		full += fmt.Sprintf("data_dir = %q\n", t.TempDir())
	}
	if !has["listener"] {
		full += "listener \"smtp\" {\n  address = \"127.0.0.1:0\"\n}\n"
	}
	if !has["domain"] {
		full += "domain \"doc-example.invalid\" {\n  deliver \"maildir\" {}\n}\n"
	}
	for _, n := range named {
		if !filters[n] {
			filters[n] = true
			full += fmt.Sprintf("filter %q {\n  wasm = \"stub.wasm\"\n}\n", n)
		}
	}
	if _, diags := Parse([]byte(full), name, t.TempDir()); diags.HasErrors() {
		t.Errorf("%s is refused:\n%v\n%s", name, diags.Errs(), full)
	}
}
