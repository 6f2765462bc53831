// Package yamlconf loads Klaxon's YAML files strictly: unknown keys are errors,
// and every error names the file and line, as "file.yml:12: reason".
//
// Types with defaults or cross-field rules implement yaml.Unmarshaler: they
// set their defaults, call DecodeNode (which keeps the strictness that
// yaml.v3 drops inside custom unmarshalers) and report violations with
// Errorf so that the line is kept.
package yamlconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadFile reads the YAML file at path into v.
func LoadFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	return Decode(path, data, v)
}

// Decode parses data, named name in errors, into v. An empty document
// leaves v as it is. Every time.Duration in v, at any depth, is read by
// ParseDuration, and a bad one is reported with its key.
func Decode(name string, data []byte, v any) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return located(name, err)
	}
	if len(root.Content) == 0 {
		return nil
	}
	var problems []string
	bad := readDurations(root.Content[0], reflect.TypeOf(v), "", &problems)
	err := DecodeNode(root.Content[0], v)
	if len(problems) == 0 {
		if err != nil {
			return located(name, err)
		}
		return nil
	}
	// Bad durations are reported once, with their keys, in line order
	// with everything else.
	var te *yaml.TypeError
	if errors.As(err, &te) {
		problems = append(problems, withoutDurationErrors(te.Errors, bad)...)
	} else if err != nil {
		problems = append(problems, err.Error())
	}
	slices.SortStableFunc(problems, func(a, b string) int { return lineOf(a) - lineOf(b) })
	return located(name, &yaml.TypeError{Errors: slices.Compact(problems)})
}

// DecodeNode decodes node into v, rejecting keys that v's struct types do not
// declare. Types that implement yaml.Unmarshaler check their own keys.
func DecodeNode(node *yaml.Node, v any) error {
	var problems []string
	checkKeys(node, reflect.TypeOf(v), &problems)
	err := node.Decode(v)
	if len(problems) == 0 {
		return err
	}
	// Decode anyway, so that problems deeper down are reported in the
	// same run, then list everything in line order.
	var te *yaml.TypeError
	if errors.As(err, &te) {
		problems = append(problems, te.Errors...)
	}
	slices.SortStableFunc(problems, func(a, b string) int { return lineOf(a) - lineOf(b) })
	return &yaml.TypeError{Errors: slices.Compact(problems)}
}

func lineOf(msg string) int {
	var n int
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ = strconv.Atoi(m[1])
	}
	return n
}

// Errorf returns a validation error located at node. It is a
// *yaml.TypeError, so the decoder goes on and reports every problem in the
// file at once, not just the first.
func Errorf(node *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", node.Line, fmt.Sprintf(format, args...))}}
}

// ResolvePath makes a relative path in a config file relative to the
// directory of that file.
func ResolvePath(configFile, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(configFile), path)
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// Keyed is a struct type whose YAML keys are not its fields, such as a
// channel with one key per integration. YAMLKeys maps each key to the type
// its value decodes into, so that Decode reads the durations below it.
type Keyed interface {
	YAMLKeys() map[string]reflect.Type
}

// checkKeys walks node alongside t and records every mapping key that names
// no field. It stops at types that unmarshal themselves.
func checkKeys(node *yaml.Node, t reflect.Type, problems *[]string) {
	if node == nil || t == nil {
		return
	}
	if node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// A type that unmarshals itself checks its own keys: it calls DecodeNode
	// on a method-less alias of itself.
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch {
	case node.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for _, item := range node.Content {
			checkKeys(item, t.Elem(), problems)
		}
	case node.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 1; i < len(node.Content); i += 2 {
			checkKeys(node.Content[i], t.Elem(), problems)
		}
	case node.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, value := node.Content[i], node.Content[i+1]
			ft, ok := fields[key.Value]
			if !ok {
				*problems = append(*problems, fmt.Sprintf("line %d: unknown key %q (known keys: %s)",
					key.Line, key.Value, strings.Join(sortedKeys(fields), ", ")))
				continue
			}
			checkKeys(value, ft, problems)
		}
	}
}

// yamlFields maps the YAML keys of struct t to their field types, following
// inline fields.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	if k, ok := reflect.New(t).Interface().(Keyed); ok {
		return k.YAMLKeys()
	}
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range yamlFields(ft) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var (
	lineRE   = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)
	prefixRE = regexp.MustCompile(`^yaml: (?:unmarshal errors:\n\s*)?`)
)

// located rewrites yaml and validation errors as "name:line: reason", one
// line per problem.
func located(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = locate(name, m)
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	return errors.New(locate(name, prefixRE.ReplaceAllString(err.Error(), "")))
}

func locate(name, msg string) string {
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s:%s: %s", name, m[1], msg[len(m[0]):])
	}
	return fmt.Sprintf("%s: %s", name, msg)
}

// ValueNode returns the value of key in mapping node, or node itself when
// there is no such key, so that an error about the key points at its line.
func ValueNode(node *yaml.Node, key string) *yaml.Node {
	if node.Kind != yaml.MappingNode {
		return node
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1]
		}
	}
	return node
}

// ItemNode returns the i-th item of the list under key in mapping node, or
// node itself when there is none, for error lines.
func ItemNode(node *yaml.Node, key string, i int) *yaml.Node {
	if list := ValueNode(node, key); list.Kind == yaml.SequenceNode && i < len(list.Content) {
		return list.Content[i]
	}
	return node
}
