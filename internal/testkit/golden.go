package testkit

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Update reports whether the tests run with -update, for a test that
// compares a golden file in its own way (as Prometheus metrics, say).
func Update() bool { return *update }

// Golden compares got with the golden file at path, relative to the
// package's directory. With -update it writes got to path instead.
func Golden[T ~string | ~[]byte](t testing.TB, path string, got T) {
	t.Helper()
	if *update {
		WriteGolden(t, path, []byte(got))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (%s writes it)", err, UpdateCommand())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); if the change is intended, %s rewrites it:\n%s", path, UpdateCommand(), diff)
	}
}

// WriteGolden writes b to the golden file at path, creating its
// directory.
func WriteGolden(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// UpdateCommand is the command that rewrites the golden files of the
// package under test, such as "go test ./pkg/runbook -update".
func UpdateCommand() string {
	return "go test " + packageDir() + " -update"
}

// packageDir is the directory of the package under test relative to the
// module's root, "./pkg/runbook", or "." when it cannot tell.
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil || rel == "." {
				return "."
			}
			return "./" + filepath.ToSlash(rel)
		}
		if filepath.Dir(dir) == dir {
			return "."
		}
	}
}

// GoldenJSON compares the JSON body, indented by two spaces and ended by
// a newline, with the golden file at path, as Golden does.
func GoldenJSON(t testing.TB, path string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	buf.WriteByte('\n')
	Golden(t, path, buf.Bytes())
}
