package opsgenie

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/notify"
	"github.com/klaxonhq/klaxon/pkg/notify/notifytest"
	"github.com/klaxonhq/klaxon/pkg/notify/opsgenie/opsgenietest"
)

// fuzzMaxDetails is the limit quoted for details, keys and values
// together: 8000 characters (Alert API, as quoted by third parties).
const fuzzMaxDetails = 8000

// fuzzMaxSource is the stricter of the two limits quoted for source.
const fuzzMaxSource = 100

// fuzzResponders are the configured responders every alert must carry.
var fuzzResponders = []Responder{{Type: "team", Name: "ops"}, {Type: "user", Username: "oncall@example.com"}}

// fuzzNotifier is a channel with the default texts, two tags and two
// responders.
func fuzzNotifier(tb testing.TB) *Notifier {
	tmpl, err := notify.NewTemplate(nil)
	if err != nil {
		tb.Fatal(err)
	}
	c := &Config{APIKey: "fuzz-genie-key", Region: DefaultRegion, Message: DefaultMessage, Priorities: DefaultPriorities(),
		DefaultPriority: DefaultPriority, Tags: []string{"klaxon", "team:ops"}, Responders: fuzzResponders,
		Source: DefaultSource, Timeout: DefaultTimeout}
	o, err := New(c, notify.Options{Template: tmpl, Logger: promslog.NewNopLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

// FuzzRender renders fuzzed alert groups into requests, as Notify does
// before sending, and checks each against Opsgenie's rules: it must not
// panic or fail, and the request must be valid UTF-8 and within every
// limit of the Alert API.
func FuzzRender(f *testing.F) {
	notifytest.FuzzSeed(f)
	o := fuzzNotifier(f)
	f.Fuzz(func(t *testing.T, alertname, severity, label, summary, description, runbook string, count uint8, status string) {
		if notifytest.FuzzTooLarge(count, alertname, severity, label, summary, description, runbook) {
			t.Skip("larger than any webhook the receiver accepts")
		}
		n := notifytest.FuzzNotification("genie", alertname, severity, label, summary, description, runbook, count, status)
		path, req, err := o.request(n)
		if err != nil {
			t.Fatalf("rendering the request: %v", err)
		}
		if bad := notifytest.InvalidUTF8("request", reflect.ValueOf(req)); len(bad) > 0 {
			t.Errorf("invalid UTF-8 in %s", strings.Join(bad, ", "))
		}
		body, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("encoding the request: %v", err)
		}
		if !utf8.Valid(body) {
			t.Error("request is not valid UTF-8")
		}
		check := fuzzCheckCreate
		if n.Kind == notify.KindResolve {
			check = fuzzCheckClose
		}
		for _, problem := range check(n, path, body) {
			t.Error(problem)
		}
	})
}

// fuzzCheckCreate lists what Opsgenie would reject in a create request.
func fuzzCheckCreate(n *notify.Notification, path string, body []byte) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if path != "/v2/alerts" {
		add("create posted to %q", path)
	}
	var a opsgenietest.Alert
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return append(problems, fmt.Sprintf("request does not decode as an alert: %v", err))
	}
	length := utf8.RuneCountInString
	if strings.TrimSpace(a.Message) == "" || length(a.Message) > opsgenietest.MaxMessage {
		add("message has %d characters, want 1 to %d", length(a.Message), opsgenietest.MaxMessage)
	}
	if a.Alias != n.IncidentKey || length(a.Alias) > opsgenietest.MaxAlias {
		add("alias %q, want the incident key %q", a.Alias, n.IncidentKey)
	}
	if length(a.Description) > opsgenietest.MaxDescription {
		add("description has %d characters, over %d", length(a.Description), opsgenietest.MaxDescription)
	}
	if len(a.Tags) > opsgenietest.MaxTags {
		add("%d tags, over %d", len(a.Tags), opsgenietest.MaxTags)
	}
	for _, tag := range a.Tags {
		if strings.TrimSpace(tag) == "" || length(tag) > opsgenietest.MaxTagLength {
			add("tag %q has %d characters, want 1 to %d", tag, length(tag), opsgenietest.MaxTagLength)
		}
	}
	size := 0
	for k, v := range a.Details {
		size += length(k) + length(v)
	}
	if size > fuzzMaxDetails {
		add("details have %d characters, over %d", size, fuzzMaxDetails)
	}
	if length(a.Source) > fuzzMaxSource {
		add("source has %d characters, over %d", length(a.Source), fuzzMaxSource)
	}
	if !slices.Contains([]string{"P1", "P2", "P3", "P4", "P5"}, a.Priority) {
		add("priority %q is not one of P1 to P5", a.Priority)
	}
	var want []opsgenietest.Responder
	for _, r := range fuzzResponders {
		want = append(want, opsgenietest.Responder(r))
	}
	if diff := cmp.Diff(want, a.Responders); diff != "" {
		add("responders are not the configured ones (-want +got):\n%s", diff)
	}
	return problems
}

// fuzzCheckClose lists what Opsgenie would reject in a close request, or
// what would make it close another alert.
func fuzzCheckClose(n *notify.Notification, path string, body []byte) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	u, err := url.Parse(path)
	if err != nil {
		return []string{fmt.Sprintf("close path %q does not parse: %v", path, err)}
	}
	alias, ok := strings.CutPrefix(u.Path, "/v2/alerts/")
	alias, closing := strings.CutSuffix(alias, "/close")
	switch {
	case !ok || !closing || u.Query().Get("identifierType") != "alias":
		add("close request to %q, want /v2/alerts/{alias}/close?identifierType=alias", path)
	case alias != n.IncidentKey || utf8.RuneCountInString(alias) > opsgenietest.MaxAlias:
		add("closes alias %q, want the incident key %q", alias, n.IncidentKey)
	}
	var c opsgenietest.Close
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		add("close body does not decode: %v", err)
	}
	return problems
}

// TestFuzzChecksCatch proves that FuzzRender's checks can fail: sound
// requests pass them, and each broken one is caught.
func TestFuzzChecksCatch(t *testing.T) {
	o := fuzzNotifier(t)
	n := notifytest.FuzzNotification("genie", "HighErrorRate", "critical", "api-1", "summary", "description", "https://runbooks.example.com/x", 1, "firing")
	for _, tc := range []struct {
		name  string
		mess  func(*createRequest)
		wantN int
	}{
		{"sound", func(*createRequest) {}, 0},
		{"long message", func(r *createRequest) { r.Message = strings.Repeat("x", opsgenietest.MaxMessage+1) }, 1},
		{"blank message", func(r *createRequest) { r.Message = " " }, 1},
		{"other alias", func(r *createRequest) { r.Alias = "x" }, 1},
		{"long description", func(r *createRequest) { r.Description = strings.Repeat("x", opsgenietest.MaxDescription+1) }, 1},
		{"too many tags", func(r *createRequest) { r.Tags = make([]string, opsgenietest.MaxTags+1) }, 1 + opsgenietest.MaxTags + 1},
		{"long tag", func(r *createRequest) { r.Tags = append(r.Tags, strings.Repeat("x", opsgenietest.MaxTagLength+1)) }, 1},
		{"long details", func(r *createRequest) { r.Details["x"] = strings.Repeat("x", fuzzMaxDetails) }, 1},
		{"long source", func(r *createRequest) { r.Source = strings.Repeat("x", fuzzMaxSource+1) }, 1},
		{"bad priority", func(r *createRequest) { r.Priority = "P0" }, 1},
		{"no responders", func(r *createRequest) { r.Responders = nil }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, req, err := o.request(n)
			if err != nil {
				t.Fatal(err)
			}
			tc.mess(req.(*createRequest))
			body, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := fuzzCheckCreate(n, path, body); len(got) != tc.wantN {
				t.Errorf("problems %q, want %d", got, tc.wantN)
			}
		})
	}
	n.Kind = notify.KindResolve
	for path, wantN := range map[string]int{
		"/v2/alerts/" + n.IncidentKey + "/close?identifierType=alias": 0,
		"/v2/alerts/" + n.IncidentKey + "/close":                      1,
		"/v2/alerts/x/close?identifierType=alias":                     1,
	} {
		if got := fuzzCheckClose(n, path, []byte(`{"source":"klaxon-receiver"}`)); len(got) != wantN {
			t.Errorf("close to %s: problems %q, want %d", path, got, wantN)
		}
	}
}
