package docs_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// docFiles are the documentation files the checks read: README.md,
// docs/*.md and every README.md under deploy/, relative to the
// repository's root.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{filepath.Join(root, "README.md")}
	md, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, md...)
	err = filepath.WalkDir(filepath.Join(root, "deploy"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && e.Name() == "README.md" {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// binaries builds klaxon-exporter and klaxon-receiver and reads what
// their help says they accept.
func binaries(t *testing.T) []*cli {
	t.Helper()
	var out []*cli
	for _, name := range []string{"klaxon-exporter", "klaxon-receiver"} {
		c, err := loadCLI(name, testenv.Binary(t, name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// relative names a problem's file relative to root, as a reader finds it.
func relative(root string, ps []problem) []string {
	var out []string
	for _, p := range ps {
		if r, err := filepath.Rel(root, p.file); err == nil {
			p.file = r
		}
		out = append(out, p.String())
	}
	return out
}

// cachedReader reads each doc once.
func cachedReader() func(string) (*doc, error) {
	docs := map[string]*doc{}
	return func(path string) (*doc, error) {
		if d, ok := docs[path]; ok {
			return d, nil
		}
		d, err := readDoc(path)
		if err == nil {
			docs[path] = d
		}
		return d, err
	}
}

// check runs both checks on files.
func check(t *testing.T, files []string, clis []*cli) []problem {
	t.Helper()
	read := cachedReader()
	var out []problem
	for _, f := range files {
		d, err := read(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, checkCommands(d, clis)...)
		out = append(out, checkLinks(d, read)...)
	}
	return out
}

// TestDocs checks that every command line of the docs that runs
// klaxon-exporter or klaxon-receiver uses commands and flags the built
// binaries have, and that every relative link points at a file, and a
// heading, that exists.
func TestDocs(t *testing.T) {
	root := testenv.RepoRoot(t)
	clis := binaries(t)
	t.Run("docs", func(t *testing.T) {
		files := docFiles(t, root)
		for _, p := range relative(root, check(t, files, clis)) {
			t.Error(p)
		}
		// The checks must have seen the commands and links they check.
		seen, links := 0, 0
		for _, f := range files {
			d, _ := readDoc(f)
			for _, l := range d.links {
				if !scheme.MatchString(l.dest) {
					links++
				}
			}
			for _, l := range commandLines(d.code) {
				if slices.ContainsFunc(l.tokens, func(tok token) bool { return isAnyBinary(clis, tok.text) }) {
					seen++
				}
			}
		}
		if seen < 20 {
			t.Errorf("only %d command lines with klaxon-exporter or klaxon-receiver found in %d files; is the scan broken?", seen, len(files))
		}
		if links < 20 {
			t.Errorf("only %d relative links found in %d files; is the scan broken?", links, len(files))
		}
		t.Logf("%d files, %d command lines, %d relative links", len(files), seen, links)
	})
	t.Run("negative control", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "other.md"), "# Other\n\n## A section\n")
		writeFile(t, filepath.Join(dir, "fake.md"), fakeDoc)
		got := relative(dir, check(t, []string{filepath.Join(dir, "fake.md")}, clis))
		want := []string{
			`fake.md:3: klaxon-receiver oncall: unknown flag --whom`,
			`fake.md:6: klaxon-exporter: unknown flag --no-collector.bogus`,
			`fake.md:7: klaxon-exporter: unknown flag --web.listen-adress`,
			`fake.md:8: klaxon-receiver dead-letters: unknown command "purge" (commands: list, retry)`,
			`fake.md:9: klaxon-receiver check-config: unknown flag --bogus`,
			`fake.md:10: klaxon-receiver: unknown command "ackk" (commands: ack, check-config, dead-letters, help, incidents, oncall, resolve, send-test, serve, simulate)`,
			`fake.md:12: klaxon-receiver: unknown flag --no-config.file`,
			`fake.md:20: klaxon-receiver: unknown flag --bogus-in-comment`,
			`fake.md:28: link nowhere.md: ` + filepath.Join(dir, "nowhere.md") + ` does not exist`,
			`fake.md:28: link other.md#no-such-section: ` + filepath.Join(dir, "other.md") + ` has no heading #no-such-section`,
			`fake.md:28: link #nope: ` + filepath.Join(dir, "fake.md") + ` has no heading #nope`,
		}
		want = append(want,
			`fake.md:33: klaxon-exporter: unknown flag --collector.cpuu`,
			`fake.md:38: klaxon-receiver: unknown flag --bogus-in-a-listing`)
		slices.Sort(want)
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("problems found in a doc with known mistakes (-want +got):\n%s", diff)
		}
	})
}

// fakeDoc has a mistake on each line that the negative control names,
// and placeholders, brackets, wildcards and negations that are right.
const fakeDoc = "# Fake\n" +
	"\n" +
	"Run `klaxon-receiver oncall --at TIME --whom NAME`, or `klaxon-receiver oncall [--at TIME] [--schedule NAME]`.\n" +
	"\n" +
	"```sh\n" +
	"klaxon-exporter --collector.cpu --no-collector.bogus \\\n" +
	"  --web.listen-adress=:9847\n" +
	"klaxon-receiver dead-letters purge\n" +
	"klaxon-receiver --config.file x.yml check-config --bogus\n" +
	"klaxon-receiver ackk ID --by NAME\n" +
	"klaxon-receiver ack ID --by NAME [--receiver.url URL]   # --bogus in a comment\n" +
	"klaxon-receiver --no-config.file\n" +
	"klaxon-exporter [--collector.<name> | --no-collector.<name>] [--[no-]collector.cpu]\n" +
	"klaxon-receiver check-config | send-test --channel NAME | dead-letters [list | retry [ID...]]\n" +
	"klaxon-receiver --config.file=klaxon-receiver.yml dead-letters retry 17 18 | tee out.txt\n" +
	"./bin/klaxon-receiver --web.listen-address=:9848 --web.config.file=web.yml\n" +
	"podman run --name klaxon-receiver --rm klaxon-receiver <command>\n" +
	"[TEST] klaxon-receiver send-test: channel \"<name>\" reaches PagerDuty\n" +
	"app ─► klaxon-receiver ─► Slack\n" +
	"# klaxon-receiver for the team; klaxon-receiver --bogus-in-comment\n" +
	"go build -o bin/klaxon-exporter ./exporter && bin/klaxon-exporter --version\n" +
	"klaxon-receiver.yml:4: at most one of ack_secret and ack_secret_file may be set\n" +
	"```\n" +
	"\n" +
	"| command | |\n|---|---|\n| `klaxon-receiver check-config \\| send-test --channel NAME` | ok |\n" +
	"See [a file](nowhere.md), [a section](other.md#no-such-section), [nothing](#nope), [this](#fake), [that](other.md#a-section) and [the web](https://example.com/x.md).\n" +
	"\n" +
	"```sh\n" +
	"kubectl -n klaxon rollout status statefulset/klaxon-receiver --timeout=60s\n" +
	"kubectl logs -l app=klaxon-receiver -f\n" +
	"ExecStart=/usr/local/bin/klaxon-exporter --collector.cpuu\n" +
	"```\n" +
	"\n" +
	"```\n" +
	"/bin/klaxon-exporter or /bin/klaxon-receiver   statically linked\n" +
	"klaxon-receiver --bogus-in-a-listing\n" +
	"```\n"

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
