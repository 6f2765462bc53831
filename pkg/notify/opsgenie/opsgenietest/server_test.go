package opsgenietest

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

const key = "0bd2b0a4-test-key"

type answer struct {
	Status  int
	Body    map[string]any
	Retry   string
	Dropped bool
}

func send(t *testing.T, url, auth, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
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

func errorAnswer(status int, message string) answer {
	return answer{Status: status, Body: map[string]any{"message": message, "took": 0.001, "requestId": "fake-request-1"}}
}

var ok = answer{Status: 202, Body: map[string]any{"result": "Request will be processed", "took": 0.1, "requestId": "fake-request-1"}}

func TestServerChecksRequests(t *testing.T) {
	auth := "GenieKey " + key
	for _, tc := range []struct {
		name, path, auth, body string
		want                   answer
	}{
		{"create", "/v2/alerts", auth, `{"message":"m","alias":"a","priority":"P1","tags":["x"],"details":{"k":"v"},"responders":[{"type":"team","name":"ops"}]}`, ok},
		{"close by alias", "/v2/alerts/a/close?identifierType=alias", auth, `{"source":"s"}`, ok},
		{"bad key", "/v2/alerts", "GenieKey wrong", `{"message":"m"}`, errorAnswer(401, "Key format is not valid!")},
		{"no key", "/v2/alerts", "", `{"message":"m"}`, errorAnswer(401, "Key format is not valid!")},
		{"no message", "/v2/alerts", auth, `{"alias":"a"}`, errorAnswer(422, "Message can not be empty.")},
		{"long message", "/v2/alerts", auth, `{"message":"` + strings.Repeat("m", 131) + `"}`,
			errorAnswer(422, "Message can not be longer than 130 characters.")},
		{"long alias", "/v2/alerts", auth, `{"message":"m","alias":"` + strings.Repeat("a", 513) + `"}`,
			errorAnswer(422, "Alias can not be longer than 512 characters.")},
		{"long description", "/v2/alerts", auth, `{"message":"m","description":"` + strings.Repeat("d", 15001) + `"}`,
			errorAnswer(422, "Description can not be longer than 15000 characters.")},
		{"too many tags", "/v2/alerts", auth, `{"message":"m","tags":[` + strings.Repeat(`"t",`, 20) + `"t"]}`,
			errorAnswer(422, "Tags can not have more than 20 items.")},
		{"long tag", "/v2/alerts", auth, `{"message":"m","tags":["` + strings.Repeat("t", 51) + `"]}`,
			errorAnswer(422, "Tag can not be longer than 50 characters: "+strings.Repeat("t", 51))},
		{"detail not a string", "/v2/alerts", auth, `{"message":"m","details":{"n":1}}`,
			errorAnswer(422, `Details values must be strings; "n" is not.`)},
		{"bad priority", "/v2/alerts", auth, `{"message":"m","priority":"P0"}`,
			errorAnswer(422, "Priority should be one of [P1, P2, P3, P4, P5], not P0.")},
		{"bad responder type", "/v2/alerts", auth, `{"message":"m","responders":[{"type":"group","name":"x"}]}`,
			errorAnswer(422, `Responder type "group" is not valid; should be one of team, user, escalation, schedule.`)},
		{"unnamed responder", "/v2/alerts", auth, `{"message":"m","responders":[{"type":"user"}]}`,
			errorAnswer(422, "Responder of type user needs an id, name or username.")},
		{"not JSON", "/v2/alerts", auth, `{`, errorAnswer(400, "Could not parse the request body: unexpected end of JSON input")},
		{"close by id", "/v2/alerts/a/close", auth, `{}`,
			errorAnswer(422, "fake: close must address the alert by alias (identifierType=alias)")},
		{"unknown path", "/v1/json/alert", auth, `{}`, errorAnswer(404, "Could not find the requested resource")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(key)
			defer s.Close()
			got := send(t, s.URL()+tc.path, tc.auth, tc.body)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if n := len(s.Received()) + len(s.Closed()); (n == 1) != (tc.want.Status == 202) {
				t.Errorf("recorded %d requests for an answer %d", n, got.Status)
			}
		})
	}
}

func TestServerRecordsCloses(t *testing.T) {
	s := NewServer(key)
	defer s.Close()
	send(t, s.URL()+"/v2/alerts/inc%2F1/close?identifierType=alias", "GenieKey "+key, `{"source":"klaxon","note":"done"}`)
	want := []Close{{Alias: "inc/1", Source: "klaxon", Note: "done"}}
	if diff := cmp.Diff(want, s.Closed()); diff != "" {
		t.Errorf("closes (-want +got):\n%s", diff)
	}
}

func TestServerRateLimitAndFailures(t *testing.T) {
	s := NewServer(key)
	defer s.Close()
	s.SetRateLimit(1, time.Hour)
	s.FailNext(1, fakeapi.Fault{Status: 503, RetryAfter: 3 * time.Second})
	s.FailNext(1, fakeapi.Fault{HangUp: true})
	var got []answer
	for range 4 {
		got = append(got, send(t, s.URL()+"/v2/alerts", "GenieKey "+key, `{"message":"m"}`))
	}
	want := []answer{
		{Status: 503, Retry: "3", Body: map[string]any{"message": "Service Unavailable", "took": 0.001, "requestId": "fake-request-1"}},
		{Dropped: true},
		{Status: 202, Body: map[string]any{"result": "Request will be processed", "took": 0.1, "requestId": "fake-request-2"}},
		{Status: 429, Body: map[string]any{"message": "You are making too many requests! To avoid errors, we recommend you limit requests.",
			"took": 0.001, "requestId": "fake-request-3"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}
