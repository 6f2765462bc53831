package pagerdutytest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
)

const key = "0123456789abcdef0123456789abcdef"

type answer struct {
	Status  int
	Body    map[string]any
	Retry   string
	Dropped bool
}

func post(t *testing.T, url, body string) answer {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return answer{Dropped: true}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{Status: resp.StatusCode, Retry: resp.Header.Get("Retry-After")}
	if err := json.Unmarshal(b, &a.Body); err != nil {
		t.Fatalf("answer %q is not JSON: %v", b, err)
	}
	return a
}

func invalidAnswer(errs ...string) answer {
	list := make([]any, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return answer{Status: 400, Body: map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": list}}
}

func TestServerChecksEvents(t *testing.T) {
	trigger := `{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"k1","payload":{"summary":"s","source":"h","severity":"critical"}}`
	for _, tc := range []struct {
		name, body string
		want       answer
	}{
		{"trigger accepted", trigger,
			answer{Status: 202, Body: map[string]any{"status": "success", "message": "Event processed", "dedup_key": "k1"}}},
		{"ruleset key accepted", `{"routing_key":"Rshort","event_action":"resolve","dedup_key":"k1"}`,
			answer{Status: 202, Body: map[string]any{"status": "success", "message": "Event processed", "dedup_key": "k1"}}},
		{"short key", `{"routing_key":"abc","event_action":"resolve","dedup_key":"k1"}`,
			invalidAnswer("Length of 'routing_key' is incorrect (should be 32 characters)")},
		{"bad action", `{"routing_key":"` + key + `","event_action":"close","dedup_key":"k1"}`,
			invalidAnswer("'event_action' is invalid (must be trigger, acknowledge or resolve)")},
		{"resolve without dedup key", `{"routing_key":"` + key + `","event_action":"resolve"}`,
			invalidAnswer("'dedup_key' is required for event_action resolve")},
		{"long dedup key", `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"` + strings.Repeat("k", 256) + `"}`,
			invalidAnswer("'dedup_key' is longer than 255 characters")},
		{"trigger without payload", `{"routing_key":"` + key + `","event_action":"trigger"}`,
			invalidAnswer("'payload' is missing")},
		{"trigger missing fields", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"severity":"high"}}`,
			invalidAnswer("'payload.summary' is missing or blank", "'payload.source' is missing or blank",
				"'payload.severity' is invalid (must be critical, error, warning or info)")},
		{"long summary", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"` + strings.Repeat("é", 1025) + `","source":"h","severity":"info"}}`,
			invalidAnswer("'payload.summary' is longer than 1024 characters")},
		{"bad links and images", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"},"links":[{"text":"x"}],"images":[{"src":"http://x/y.png"}]}`,
			invalidAnswer("'links[0].href' is missing", "'images[0].src' must be an HTTPS URL")},
		{"not JSON", `{`, invalidAnswer("Malformed JSON: unexpected end of JSON input")},
		{"too large", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","custom_details":{"x":"` + strings.Repeat("x", MaxEventBytes) + `"}}}`,
			invalidAnswer("Event object is larger than 512000 bytes")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer()
			defer s.Close()
			got := post(t, s.URL(), tc.body)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if accepted := len(s.Received()); (accepted == 1) != (tc.want.Status == 202) {
				t.Errorf("recorded %d events for an answer %d", accepted, got.Status)
			}
		})
	}
}

func TestServerRateLimitPerKey(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.SetRateLimit(2, time.Hour)
	resolve := func(k string) string {
		return `{"routing_key":"` + k + `","event_action":"resolve","dedup_key":"d"}`
	}
	var got []int
	for _, k := range []string{key, key, key, "R-other-key"} {
		a := post(t, s.URL(), resolve(k))
		got = append(got, a.Status)
		if a.Status == 429 && a.Retry != "" {
			t.Errorf("429 carries Retry-After %q; PagerDuty documents none", a.Retry)
		}
	}
	if diff := cmp.Diff([]int{202, 202, 429, 202}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

func TestServerInjectedFailures(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.FailNext(1, fakeapi.Fault{Status: 503, RetryAfter: 7 * time.Second})
	s.FailNext(1, fakeapi.Fault{HangUp: true})
	body := `{"routing_key":"` + key + `","event_action":"resolve","dedup_key":"d"}`
	got := []answer{post(t, s.URL(), body), post(t, s.URL(), body), post(t, s.URL(), body)}
	want := []answer{
		{Status: 503, Retry: "7", Body: map[string]any{"status": "service unavailable", "message": "Service Unavailable"}},
		{Dropped: true},
		{Status: 202, Body: map[string]any{"status": "success", "message": "Event processed", "dedup_key": "d"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if n := len(s.Received()); n != 1 {
		t.Errorf("recorded %d events, want only the one accepted", n)
	}
}
