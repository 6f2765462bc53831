package opsgenie

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	if err := yamlconf.Decode("receiver.yml", []byte("api_key: abc\n"), &c); err != nil {
		t.Fatal(err)
	}
	want := Config{APIKey: "abc", Region: "us", Message: DefaultMessage, Priorities: DefaultPriorities(),
		DefaultPriority: "P3", Source: "klaxon-receiver", Timeout: 10 * time.Second}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if got := c.baseURL(); got != "https://api.opsgenie.com" {
		t.Errorf("base URL %s, want the US host", got)
	}
}

func TestConfigGood(t *testing.T) {
	const in = `
api_key_file: secrets/genie.key
region: eu
message: '{{ .CommonLabels.alertname }}'
description: '{{ .CommonAnnotations.description }}'
priorities:
  Page: P1
  warning: P4
default_priority: P5
tags: [prod, payments]
responders:
  - {type: team, name: payments}
  - {type: user, username: alice@example.com}
  - {type: escalation, id: 4513b7ea-3b91-438f-b7e4-e3e54af9147c}
  - {type: schedule, name: primary}
source: acme
timeout: 4s
`
	var c Config
	if err := yamlconf.Decode("receiver.yml", []byte(in), &c); err != nil {
		t.Fatal(err)
	}
	c.ResolvePaths("/etc/klaxon/receiver.yml")
	want := Config{APIKeyFile: filepath.Join("/etc/klaxon", "secrets/genie.key"), Region: "eu",
		Message: "{{ .CommonLabels.alertname }}", Description: "{{ .CommonAnnotations.description }}",
		Priorities:      map[string]string{"critical": "P1", "error": "P2", "warning": "P4", "info": "P5", "page": "P1"},
		DefaultPriority: "P5", Tags: []string{"prod", "payments"},
		Responders: []Responder{{Type: "team", Name: "payments"}, {Type: "user", Username: "alice@example.com"},
			{Type: "escalation", ID: "4513b7ea-3b91-438f-b7e4-e3e54af9147c"}, {Type: "schedule", Name: "primary"}},
		Source: "acme", Timeout: 4 * time.Second}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if got := c.baseURL(); got != "https://api.eu.opsgenie.com" {
		t.Errorf("base URL %s, want the EU host", got)
	}
	var u Config
	if err := yamlconf.Decode("receiver.yml", []byte("api_key: k\napi_url: http://127.0.0.1:9/\n"), &u); err != nil {
		t.Fatal(err)
	}
	if u.Region != "" || u.baseURL() != "http://127.0.0.1:9" {
		t.Errorf("region %q, base URL %q; want no region and the api_url without its slash", u.Region, u.baseURL())
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no key", "region: eu\n", "receiver.yml:1: one of api_key, api_key_file and api_key_env is required"},
		{"env unset", "region: eu\napi_key_env: KLAXON_TEST_UNSET\n", "receiver.yml:2: api_key_env: environment variable KLAXON_TEST_UNSET is not set"},
		{"unexpanded", "api_key: $OPSGENIE_API_KEY\n",
			`receiver.yml:1: api_key is "$OPSGENIE_API_KEY", which is not expanded: to read the environment variable, write api_key_env: OPSGENIE_API_KEY instead`},
		{"both keys", "api_key: k\napi_key_file: f\n", "receiver.yml:2: at most one of api_key, api_key_file and api_key_env may be set"},
		{"region and api_url", "api_key: k\nregion: us\napi_url: https://api.opsgenie.com\n",
			"receiver.yml:1: at most one of region and api_url may be set"},
		{"bad region", "api_key: k\nregion: ap\n", `receiver.yml:2: region must be us or eu, not "ap"`},
		{"bad api_url", "api_key: k\napi_url: api.opsgenie.com\n",
			`receiver.yml:2: api_url must be an absolute http or https URL, not "api.opsgenie.com"`},
		{"zero timeout", "api_key: k\ntimeout: 0s\n", "receiver.yml:2: timeout must be more than 0s, not 0s"},
		{"bad default_priority", "api_key: k\ndefault_priority: high\n",
			`receiver.yml:2: default_priority must be one of P1, P2, P3, P4, P5, not "high"`},
		{"bad priority", "api_key: k\npriorities:\n  critical: P1\n  page: P0\n",
			`receiver.yml:4: priorities: severity "page" maps to "P0", which is not one of P1, P2, P3, P4, P5`},
		{"too many tags", "api_key: k\ntags: [a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u]\n",
			"receiver.yml:2: at most 20 tags may be set (Opsgenie's limit), not 21"},
		{"long tag", "api_key: k\ntags:\n  - ok\n  - " + "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz\n",
			`receiver.yml:4: tag "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz" must be 1 to 50 characters long`},
		{"empty tag", "api_key: k\ntags: ['']\n", `receiver.yml:2: tag "" must be 1 to 50 characters long`},
		{"empty source", "api_key: k\nsource: ''\n", "receiver.yml:2: source must be 1 to 100 characters long"},
		{"bad responder type", "api_key: k\nresponders:\n  - {type: team, name: a}\n  - {type: group, name: b}\n",
			`receiver.yml:4: responder 2: type must be team, user, escalation or schedule, not "group"`},
		{"user by name", "api_key: k\nresponders:\n  - {type: user, name: alice}\n",
			"receiver.yml:3: responder 1: a user is named by id or username, not name"},
		{"team by username", "api_key: k\nresponders:\n  - {type: team, username: ops}\n",
			"receiver.yml:3: responder 1: a team is named by id or name, not username"},
		{"unnamed team", "api_key: k\nresponders:\n  - {type: schedule}\n",
			"receiver.yml:3: responder 1: a schedule needs exactly one of id and name"},
		{"user twice named", "api_key: k\nresponders:\n  - {type: user, id: x, username: y}\n",
			"receiver.yml:3: responder 1: a user needs exactly one of id and username"},
		{"unknown key", "api_key: k\nupdate_alerts: true\n",
			`receiver.yml:2: unknown key "update_alerts" (known keys: api_key, api_key_env, api_key_file, api_url, default_priority, description, message, priorities, region, responders, source, tags, timeout)`},
		{"unknown responder key", "api_key: k\nresponders:\n  - {type: team, team: x}\n",
			`receiver.yml:3: unknown key "team" (known keys: id, name, type, username)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := yamlconf.Decode("receiver.yml", []byte(tc.yaml), &c)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
}
