package webhook

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

const secretURL = "https://hooks.example.com/hook/T0-s3cret-path?token=q-s3cret"

func TestConfigDefaults(t *testing.T) {
	var c Config
	if err := yamlconf.Decode("receiver.yml", []byte("url: "+secretURL+"\n"), &c); err != nil {
		t.Fatal(err)
	}
	want := Config{URL: secretURL, Method: "POST", ContentType: "application/json", Timeout: 10 * time.Second,
		RateLimit: Limit{Every: time.Second, Burst: 5}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if c.Limit() != DefaultLimit {
		t.Errorf("Limit() = %+v, want %+v", c.Limit(), DefaultLimit)
	}
}

func TestConfigGood(t *testing.T) {
	t.Setenv("KLAXON_TEST_HOOK_URL", " https://hooks.example.com/from-env \n")
	t.Setenv("KLAXON_TEST_HOOK_TOKEN", "env-s3cret")
	const in = `
url_env: KLAXON_TEST_HOOK_URL
url_suffix: '{{ if eq .Kind "trigger" }}/fail{{ end }}'
method: put
headers:
  X-Source: klaxon
  Authorization: {value_file: secrets/token}
  X-Env-Token: {value_env: KLAXON_TEST_HOOK_TOKEN}
  X-Inline: {value: inline-s3cret}
content_type: text/plain; charset=utf-8
body: '{{ .CommonLabels.alertname }}'
timeout: 3s
limit: {every: 2m, burst: 1}
`
	var c Config
	if err := yamlconf.Decode("receiver.yml", []byte(in), &c); err != nil {
		t.Fatal(err)
	}
	c.ResolvePaths("/etc/klaxon/receiver.yml")
	want := Config{URL: "https://hooks.example.com/from-env", URLEnv: "KLAXON_TEST_HOOK_URL",
		URLSuffix: `{{ if eq .Kind "trigger" }}/fail{{ end }}`, Method: "PUT",
		Headers: map[string]Header{
			"X-Source":      {Value: "klaxon"},
			"Authorization": {ValueFile: filepath.Join("/etc/klaxon", "secrets/token")},
			"X-Env-Token":   {Value: "env-s3cret", ValueEnv: "KLAXON_TEST_HOOK_TOKEN"},
			"X-Inline":      {Value: "inline-s3cret"},
		},
		ContentType: "text/plain; charset=utf-8", Body: "{{ .CommonLabels.alertname }}", Timeout: 3 * time.Second,
		RateLimit: Limit{Every: 2 * time.Minute, Burst: 1}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if got := c.Limit(); got != (notify.Limit{Every: 2 * time.Minute, Burst: 1}) {
		t.Errorf("Limit() = %+v, want the configured one", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no url", "method: POST\n", "receiver.yml:1: one of url, url_file and url_env is required"},
		{"two urls", "url: https://a.example/x\nurl_file: f\n", "receiver.yml:2: at most one of url, url_file and url_env may be set"},
		{"env unset", "url_env: KLAXON_TEST_UNSET\n", "receiver.yml:1: url_env: environment variable KLAXON_TEST_UNSET is not set"},
		{"relative url", "url: hooks.example.com/T0-s3cret\n", "receiver.yml:1: url: must be an absolute http or https URL"},
		{"ftp url", "url: ftp://hooks.example.com/T0-s3cret\n", "receiver.yml:1: url: must be an absolute http or https URL"},
		{"no host", "url: https:///T0-s3cret\n", "receiver.yml:1: url: has no host"},
		{"bad url", "url: \"https://hooks.example.com/%zzT0-s3cret\"\n", "receiver.yml:1: url: not a valid URL"},
		{"GET", "url: https://a.example/x\nmethod: GET\n", `receiver.yml:2: method must be POST, PUT or PATCH, not "GET": each sends the body`},
		{"bad content type", "url: https://a.example/x\ncontent_type: 'json'\n",
			`receiver.yml:2: content_type "json" is not a media type such as application/json`},
		{"zero timeout", "url: https://a.example/x\ntimeout: 0s\n", "receiver.yml:2: timeout must be more than 0s, not 0s"},
		{"zero every", "url: https://a.example/x\nlimit:\n  every: 0s\n", "receiver.yml:3: limit: every must be more than 0s, not 0s"},
		{"zero burst", "url: https://a.example/x\nlimit: {burst: 0}\n", "receiver.yml:2: limit: burst must be 1 or more, not 0"},
		{"bad header name", "url: https://a.example/x\nheaders:\n  ok: 1\n  'X Token': a\n", `receiver.yml:4: headers: "X Token" is not a valid header name`},
		{"host header", "url: https://a.example/x\nheaders:\n  host: evil.example\n", "receiver.yml:3: headers: Host may not be set: the URL sets it"},
		{"content-length", "url: https://a.example/x\nheaders:\n  Content-Length: '3'\n", "receiver.yml:3: headers: Content-Length may not be set: the body sets it"},
		{"content-type", "url: https://a.example/x\nheaders:\n  content-type: text/plain\n", "receiver.yml:3: headers: Content-Type may not be set: set content_type instead"},
		{"twice", "url: https://a.example/x\nheaders:\n  X-Token: a\n  x-token: b\n", `receiver.yml:4: headers: "X-Token" and "x-token" name the same header`},
		{"newline in value", "url: https://a.example/x\nheaders:\n  X-Token: \"s3cret\\nInjected: 1\"\n",
			"receiver.yml:3: headers: X-Token: the value holds a control character, such as a newline"},
		{"header two values", "url: https://a.example/x\nheaders:\n  X-Token: {value: a, value_file: f}\n",
			"receiver.yml:3: at most one of value, value_file and value_env may be set"},
		{"header no value", "url: https://a.example/x\nheaders:\n  X-Token: {}\n", "receiver.yml:3: one of value, value_file and value_env is required"},
		{"header env unset", "url: https://a.example/x\nheaders:\n  X-Token: {value_env: KLAXON_TEST_UNSET}\n",
			"receiver.yml:3: value_env: environment variable KLAXON_TEST_UNSET is not set"},
		{"header unexpanded", "url: https://a.example/x\nheaders:\n  X-Token: $TOKEN\n",
			`receiver.yml:3: value is "$TOKEN", which is not expanded: to read the environment variable, write value_env: TOKEN instead`},
		{"header unknown key", "url: https://a.example/x\nheaders:\n  X-Token: {file: f}\n",
			`receiver.yml:3: unknown key "file" (known keys: value, value_env, value_file)`},
		{"unknown key", "url: https://a.example/x\nsend_resolved: false\n",
			`receiver.yml:2: unknown key "send_resolved" (known keys: body, content_type, headers, limit, method, timeout, url, url_env, url_file, url_suffix)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := yamlconf.Decode("receiver.yml", []byte(tc.yaml), &c)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error quotes a secret: %v", err)
			}
		})
	}
}
