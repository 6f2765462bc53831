package integrations

import (
	"fmt"
	"reflect"

	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// Channel is one named destination of exactly one integration, as the
// config's channels list has it: its name and one key, the integration's
// name, holding the integration's config.
type Channel struct {
	Name string
	// Integration names the channel's integration; Config is its config.
	Integration string
	Config      notify.ChannelConfig
}

var _ yamlconf.Keyed = (*Channel)(nil)

// channelFields are a channel's keys other than the integrations'.
type channelFields struct {
	Name string `yaml:"name"`
}

// YAMLKeys are name and the integrations' names, with their config types.
func (ch *Channel) YAMLKeys() map[string]reflect.Type {
	keys := map[string]reflect.Type{"name": reflect.TypeFor[string]()}
	for _, in := range registered {
		keys[in.Name] = reflect.TypeOf(in.NewConfig())
	}
	return keys
}

// UnmarshalYAML decodes the channel strictly, keeping what the YAML does
// not set, as for a plain struct. Check says whether it has exactly one
// integration.
func (ch *Channel) UnmarshalYAML(node *yaml.Node) error {
	fields := channelFields{Name: ch.Name}
	extra := make([]extraKey, len(registered))
	for i, in := range registered {
		extra[i] = extraKey{in.Name, reflect.TypeOf(in.NewConfig())}
	}
	values, err := decodeWith(node, &fields, extra)
	ch.Name = fields.Name
	for i, v := range values {
		if !v.IsNil() {
			ch.Integration, ch.Config = registered[i].Name, v.Interface().(notify.ChannelConfig)
			break
		}
	}
	return err
}

// Check reports a channel whose YAML, node, does not set exactly one
// integration.
func (ch *Channel) Check(node *yaml.Node) error {
	n := 0
	for _, in := range registered {
		if v := yamlconf.ValueNode(node, in.Name); v != node && v.Tag != "!!null" {
			n++
		}
	}
	if n != 1 {
		return yamlconf.Errorf(node, "channel %q must have exactly one of %s (it has %d)", ch.Name, OneOf(Names()), n)
	}
	return nil
}

// Notifier builds the channel's notifier and tells its upstream's rate
// limit. Logs name the channel and the integration.
func (ch *Channel) Notifier(opts notify.Options) (notify.Notifier, notify.Limit, error) {
	if ch.Config == nil {
		return nil, notify.Limit{}, fmt.Errorf("channel %q has no integration", ch.Name)
	}
	if opts.Logger != nil {
		opts.Logger = opts.Logger.With("channel", ch.Name, "integration", ch.Integration)
	}
	n, err := ch.Config.NewNotifier(opts)
	return n, ch.Config.Limit(), err
}

// ResolvePaths makes the config's relative *_file paths relative to the
// directory of configFile.
func (ch *Channel) ResolvePaths(configFile string) {
	if ch.Config != nil {
		ch.Config.ResolvePaths(configFile)
	}
}

// DecodeChatIDs decodes node strictly into v, a pointer to a struct type
// without an UnmarshalYAML method, together with the chat integrations'
// keys that key picks, such as notify.ChatIDs.UserKey. It returns the IDs
// set, by integration name; nil when none is.
func DecodeChatIDs(node *yaml.Node, v any, key func(*notify.ChatIDs) string) (map[string]string, error) {
	chats := Chats()
	extra := make([]extraKey, len(chats))
	for i, in := range chats {
		extra[i] = extraKey{key(in.Chat), reflect.TypeFor[string]()}
	}
	values, err := decodeWith(node, v, extra)
	var ids map[string]string
	for i, val := range values {
		if id := val.String(); id != "" {
			if ids == nil {
				ids = map[string]string{}
			}
			ids[chats[i].Name] = id
		}
	}
	return ids, err
}

// extraKey is a YAML key that decodeWith adds to a struct's, and the type
// its value decodes into.
type extraKey struct {
	key string
	typ reflect.Type
}

// decodeWith decodes node with yamlconf.DecodeNode into v, a pointer to a
// struct type without an UnmarshalYAML method, and into a value of each
// extra key's type, as though v's type had a field for every extra key:
// unknown keys are reported with all the known ones. It returns the extra
// values, in order.
func decodeWith(node *yaml.Node, v any, extra []extraKey) ([]reflect.Value, error) {
	plain := reflect.ValueOf(v).Elem()
	fields := []reflect.StructField{{Name: "Plain", Type: plain.Type(), Tag: `yaml:",inline"`}}
	for i, e := range extra {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("Extra%d", i), Type: e.typ, Tag: reflect.StructTag(fmt.Sprintf("yaml:%q", e.key)),
		})
	}
	all := reflect.New(reflect.StructOf(fields)).Elem()
	all.Field(0).Set(plain)
	err := yamlconf.DecodeNode(node, all.Addr().Interface())
	plain.Set(all.Field(0))
	values := make([]reflect.Value, len(extra))
	for i := range extra {
		values[i] = all.Field(i + 1)
	}
	return values, err
}
