package yamlconf

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

type testConfig struct {
	Name    string        `yaml:"name"`
	Timeout time.Duration `yaml:"timeout"`
	Items   []testItem    `yaml:"items"`
}

type testItem struct {
	Key   string `yaml:"key"`
	Limit int    `yaml:"limit"`
}

// UnmarshalYAML gives an item its default limit and rejects negative ones,
// the way real config types do.
func (i *testItem) UnmarshalYAML(node *yaml.Node) error {
	*i = testItem{Limit: 10}
	type plain testItem
	if err := DecodeNode(node, (*plain)(i)); err != nil {
		return err
	}
	if i.Limit < 0 {
		return Errorf(node, "item %q: limit must not be negative", i.Key)
	}
	return nil
}

func TestLoadFileGood(t *testing.T) {
	var got testConfig
	if err := LoadFile("testdata/good.yml", &got); err != nil {
		t.Fatal(err)
	}
	want := testConfig{
		Name:    "web",
		Timeout: 3 * time.Second,
		Items:   []testItem{{Key: "a", Limit: 5}, {Key: "b", Limit: 10}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestLoadFileEmptyKeepsValue(t *testing.T) {
	got := testConfig{Name: "default"}
	if err := LoadFile("testdata/empty.yml", &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "default" {
		t.Errorf("empty file changed the value: %+v", got)
	}
}

func TestLoadFileErrors(t *testing.T) {
	for file, want := range map[string]string{
		"unknown-key.yml":    `testdata/unknown-key.yml:2: unknown key "timout" (known keys: items, name, timeout)`,
		"unknown-nested.yml": `testdata/unknown-nested.yml:4: unknown key "limt" (known keys: key, limit)`,
		"invalid.yml":        `testdata/invalid.yml:3: item "a": limit must not be negative`,
		"syntax.yml":         `testdata/syntax.yml:2: did not find expected node content`,
		"badtype.yml":        `testdata/badtype.yml:2: timeout: "soon" is not a duration (use ms, s, m, h, d, w, y e.g. 90s, 5m)`,
		"missing.yml":        "reading config: open testdata/missing.yml: no such file or directory",
	} {
		t.Run(file, func(t *testing.T) {
			var c testConfig
			err := LoadFile(filepath.Join("testdata", file), &c)
			if err == nil {
				t.Fatal("want an error, got none")
			}
			if err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
		})
	}
}

func TestSeveralUnknownKeysAllReported(t *testing.T) {
	data := []byte("name: x\nfoo: 1\nitems:\n  - key: a\n    bar: 2\n")
	var c testConfig
	err := Decode("inline.yml", data, &c)
	want := "inline.yml:2: unknown key \"foo\" (known keys: items, name, timeout)\n" +
		"inline.yml:5: unknown key \"bar\" (known keys: key, limit)"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}

func TestResolvePath(t *testing.T) {
	for _, tc := range []struct{ config, path, want string }{
		{"/etc/klaxon/receiver.yml", "secret.txt", "/etc/klaxon/secret.txt"},
		{"/etc/klaxon/receiver.yml", "/abs/secret.txt", "/abs/secret.txt"},
		{"receiver.yml", "secret.txt", "secret.txt"},
		{"/etc/klaxon/receiver.yml", "", ""},
	} {
		if got := ResolvePath(tc.config, tc.path); got != tc.want {
			t.Errorf("ResolvePath(%q, %q) = %q, want %q", tc.config, tc.path, got, tc.want)
		}
	}
}

func TestValidationAndUnknownKeysReportedTogether(t *testing.T) {
	data := []byte("items:\n  - key: a\n    limit: -1\n  - key: b\n    colour: red\n")
	var c testConfig
	err := Decode("inline.yml", data, &c)
	want := "inline.yml:2: item \"a\": limit must not be negative\n" +
		"inline.yml:5: unknown key \"colour\" (known keys: key, limit)"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}

func TestValueAndItemNode(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte("name: web\nitems:\n  - key: a\n  - key: b\n"), &root); err != nil {
		t.Fatal(err)
	}
	doc := root.Content[0]
	if got := ValueNode(doc, "name"); got.Value != "web" || got.Line != 1 {
		t.Errorf("ValueNode(name) = %q at line %d", got.Value, got.Line)
	}
	if got := ValueNode(doc, "missing"); got != doc {
		t.Error("ValueNode of a missing key must be the node itself")
	}
	if got := ItemNode(doc, "items", 1); got.Line != 4 {
		t.Errorf("ItemNode(items, 1) at line %d, want 4", got.Line)
	}
	for _, tc := range []struct {
		key string
		i   int
	}{{"items", 2}, {"name", 0}, {"missing", 0}} {
		if got := ItemNode(doc, tc.key, tc.i); got != doc {
			t.Errorf("ItemNode(%s, %d) must be the node itself", tc.key, tc.i)
		}
	}
}

// durationConfig has durations at the top, in a list of a type that
// unmarshals itself, in a map and behind a pointer.
type durationConfig struct {
	Timeout time.Duration            `yaml:"timeout"`
	Levels  []durationLevel          `yaml:"levels"`
	Waits   map[string]time.Duration `yaml:"waits"`
	Backoff *time.Duration           `yaml:"backoff"`
}

type durationLevel struct {
	Delay time.Duration `yaml:"delay"`
	Name  string        `yaml:"name"`
}

func (l *durationLevel) UnmarshalYAML(node *yaml.Node) error {
	type plain durationLevel
	if err := DecodeNode(node, (*plain)(l)); err != nil {
		return err
	}
	if l.Name == "" {
		return Errorf(node, "level needs a name")
	}
	return nil
}

func TestDecodeDurations(t *testing.T) {
	data := "timeout: 90s\nlevels:\n  - {name: a, delay: 0}\n  - {name: b, delay: 1h30m}\n  - {name: c, delay: 2d}\n" +
		"waits:\n  short: 1.5s\n  long: 1w\nbackoff: 1y\n"
	var got durationConfig
	if err := Decode("durations.yml", []byte(data), &got); err != nil {
		t.Fatal(err)
	}
	backoff := 365 * 24 * time.Hour
	want := durationConfig{
		Timeout: 90 * time.Second,
		Levels:  []durationLevel{{Name: "a"}, {Name: "b", Delay: 90 * time.Minute}, {Name: "c", Delay: 48 * time.Hour}},
		Waits:   map[string]time.Duration{"short": 1500 * time.Millisecond, "long": 7 * 24 * time.Hour},
		Backoff: &backoff,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// TestDecodeBadDurations: each bad duration is reported once, with its
// line and its key from the top of the file, in line order with the other
// problems.
func TestDecodeBadDurations(t *testing.T) {
	data := "timeout: 5mins\nlevels:\n  - name: a\n    delay: 5\n  - delay: 1m\n  - name: c\n    delay: \"10 minutes\"\n" +
		"waits:\n  long: 3days\nbackoff: [1s]\n"
	var got durationConfig
	err := Decode("bad.yml", []byte(data), &got)
	want := "bad.yml:1: timeout: \"5mins\" is not a duration (" + DurationUnits + ")\n" +
		"bad.yml:4: levels[0].delay: \"5\" is not a duration (" + DurationUnits + ")\n" +
		"bad.yml:5: level needs a name\n" +
		"bad.yml:7: levels[2].delay: \"10 minutes\" is not a duration (" + DurationUnits + ")\n" +
		"bad.yml:9: waits.long: \"3days\" is not a duration (" + DurationUnits + ")\n" +
		"bad.yml:10: cannot unmarshal !!seq into time.Duration"
	if err == nil {
		t.Fatalf("no error, want:\n%s", want)
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "250ms": 250 * time.Millisecond, "1h30m": 90 * time.Minute, "7d": 7 * 24 * time.Hour, "2w": 14 * 24 * time.Hour} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := ParseDuration("5 min"); err == nil || err.Error() != `"5 min" is not a duration (`+DurationUnits+`)` {
		t.Errorf("ParseDuration(\"5 min\"): %v", err)
	}
}
