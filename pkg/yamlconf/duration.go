package yamlconf

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// DurationUnits is what a bad duration's error suggests.
const DurationUnits = "use ms, s, m, h, d, w, y e.g. 90s, 5m"

// ParseDuration reads a duration as config files write it: Go's syntax
// (90s, 1h30m, 1.5h) or Prometheus's, which adds days, weeks and years
// (7d, 1w, 1y; a day is 24h, a year 365d). The error quotes the value and
// lists the units.
func ParseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (%s)", s, DurationUnits)
	}
	return time.Duration(d), nil
}

var durationType = reflect.TypeFor[time.Duration]()

// readDurations walks node alongside t, through every type including those
// that unmarshal themselves, and prepares each time.Duration value for
// yaml.v3: a value ParseDuration reads is rewritten in Go's syntax, and one
// it does not is recorded in problems as "line N: path: reason", path
// naming the key from the top of the document, such as
// escalation_policies[0].levels[1].delay. It returns the lines of those
// problems.
func readDurations(node *yaml.Node, t reflect.Type, path string, problems *[]string) []int {
	if node == nil || t == nil {
		return nil
	}
	if node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var lines []int
	switch {
	case t == durationType:
		if node.Kind != yaml.ScalarNode || node.Tag == "!!null" {
			return nil
		}
		d, err := ParseDuration(node.Value)
		if err != nil {
			*problems = append(*problems, fmt.Sprintf("line %d: %s: %v", node.Line, path, err))
			return []int{node.Line}
		}
		node.Value, node.Tag, node.Style = d.String(), "!!str", 0
	case node.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for i, item := range node.Content {
			lines = append(lines, readDurations(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), problems)...)
		}
	case node.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(node.Content); i += 2 {
			lines = append(lines, readDurations(node.Content[i+1], t.Elem(), join(path, node.Content[i].Value), problems)...)
		}
	case node.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(node.Content); i += 2 {
			key := node.Content[i].Value
			if ft, ok := fields[key]; ok {
				lines = append(lines, readDurations(node.Content[i+1], ft, join(path, key), problems)...)
			}
		}
	}
	return lines
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlDurationRE is yaml.v3's own error for a value it cannot read as a
// time.Duration.
var yamlDurationRE = regexp.MustCompile(`^line (\d+): cannot unmarshal .* into time\.Duration$`)

// withoutDurationErrors drops from msgs yaml.v3's errors about the
// durations on lines, which readDurations has already reported.
func withoutDurationErrors(msgs []string, lines []int) []string {
	return slices.DeleteFunc(slices.Clone(msgs), func(m string) bool {
		sub := yamlDurationRE.FindStringSubmatch(strings.TrimSpace(m))
		if sub == nil {
			return false
		}
		n, _ := strconv.Atoi(sub[1])
		return slices.Contains(lines, n)
	})
}
