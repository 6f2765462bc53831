package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// A makefile is what the docs may run of one: its targets, and the
// variables it sets or reads.
type makefile struct {
	targets, vars map[string]bool
}

var (
	targetRE = regexp.MustCompile(`(?m)^([a-zA-Z][a-zA-Z0-9_-]*)\s*:[^=]`)
	setRE    = regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*)\s*[:?+]?=`)
	useRE    = regexp.MustCompile(`\$[({]([A-Z][A-Z0-9_]*)[)}]`)
)

// parseMakefile reads the targets of text and the variables it sets or
// reads; a variable only read is one a user sets on the command line.
func parseMakefile(text string) *makefile {
	m := &makefile{targets: map[string]bool{}, vars: map[string]bool{}}
	for _, g := range targetRE.FindAllStringSubmatch(text, -1) {
		m.targets[g[1]] = true
	}
	for _, re := range []*regexp.Regexp{setRE, useRE} {
		for _, g := range re.FindAllStringSubmatch(text, -1) {
			m.vars[g[1]] = true
		}
	}
	return m
}

// checkMake checks every `make` command line of d: each target must be
// one of m's, each VAR=value a variable m sets or reads.
func checkMake(d *doc, m *makefile) []problem {
	var out []problem
	for _, cl := range commandLines(d.code) {
		if !cl.shell {
			continue
		}
		toks := cl.tokens
		for i, tok := range toks {
			if tok.text != "make" || (i > 0 && !endsCommand(toks[i-1].text) && toks[i-1].text != "sudo") {
				continue
			}
			for _, arg := range toks[i+1:] {
				if endsCommand(arg.text) {
					break
				}
				if p, ok := m.check(arg.text); !ok {
					out = append(out, problem{file: d.path, line: arg.line, msg: p})
				}
			}
		}
	}
	return out
}

// check says what is wrong with one argument of make, if anything.
func (m *makefile) check(arg string) (string, bool) {
	switch name, _, isVar := strings.Cut(arg, "="); {
	case strings.HasPrefix(arg, "-") || placeholder(arg):
		return "", true
	case isVar && !m.vars[name]:
		return "make: the Makefile has no variable " + name, false
	case !isVar && !m.targets[arg]:
		return "make: the Makefile has no target " + arg, false
	}
	return "", true
}

// TestMakeCommands checks that every make command line in the docs names
// targets and variables the Makefile has.
func TestMakeCommands(t *testing.T) {
	root := testenv.RepoRoot(t)
	text, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := parseMakefile(string(text))
	t.Run("docs", func(t *testing.T) {
		seen := 0
		for _, f := range docFiles(t, root) {
			d, err := readDoc(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range relative(root, checkMake(d, m)) {
				t.Error(p)
			}
			for _, cl := range commandLines(d.code) {
				if cl.shell && slices.ContainsFunc(cl.tokens, func(tok token) bool { return tok.text == "make" }) {
					seen++
				}
			}
		}
		if seen < 10 {
			t.Errorf("only %d make command lines found; is the scan broken?", seen)
		}
	})
	t.Run("negative control", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "fake.md"), "# Fake\n\n```sh\nmake run RECEIVER_CONFIG=x.yml\nmake imgae\nmake -n image IMAGE_PREFX=r/ && make test\n```\n\nThen `make dashbaords`.\n")
		d, err := readDoc(filepath.Join(dir, "fake.md"))
		if err != nil {
			t.Fatal(err)
		}
		got := relative(dir, checkMake(d, m))
		want := []string{
			"fake.md:5: make: the Makefile has no target imgae",
			"fake.md:6: make: the Makefile has no variable IMAGE_PREFX",
			"fake.md:9: make: the Makefile has no target dashbaords",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("problems found in a doc with known mistakes (-want +got):\n%s", diff)
		}
	})
}
