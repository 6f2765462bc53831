package slacktest

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
)

type answerText struct {
	Status     int
	Body       string
	RetryAfter string
}

func post(t *testing.T, url, contentType, body string) answerText {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answerText{resp.StatusCode, string(b), resp.Header.Get("Retry-After")}
}

func TestServerRejectsWhatSlackRejects(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.SetRateLimit(0, 0) // this test is not about the rate limit
	hook := s.NewWebhook()
	const ct = "application/json"
	for _, tc := range []struct {
		name, url, contentType, body string
		want                         answerText
	}{
		{"unknown token", s.URL() + "/services/T1/B1/nope", ct, `{"text":"hi"}`,
			answerText{404, "no_service", ""}},
		{"no token", s.URL() + "/", ct, `{"text":"hi"}`,
			answerText{404, "no_service", ""}},
		{"form body", hook, "application/x-www-form-urlencoded", `payload=x`,
			answerText{400, "invalid_payload", ""}},
		{"not JSON", hook, ct, `{"text":`,
			answerText{400, "invalid_payload", ""}},
		{"wrong types", hook, ct, `{"text":1}`,
			answerText{400, "invalid_payload", ""}},
		{"no text", hook, ct, `{"username":"x"}`,
			answerText{400, "no_text", ""}},
		{"blank text", hook, ct, `{"text":"  "}`,
			answerText{400, "no_text", ""}},
		{"text too long", hook, ct, `{"text":"` + strings.Repeat("é", MaxText+1) + `"}`,
			answerText{400, "invalid_payload", ""}},
		{"attachment text too long", hook, ct, `{"attachments":[{"text":"` + strings.Repeat("a", MaxText+1) + `"}]}`,
			answerText{400, "invalid_payload", ""}},
		{"too many attachments", hook, ct, `{"attachments":[` + strings.Repeat(`{"text":"a"},`, MaxAttachments) + `{"text":"a"}]}`,
			answerText{400, "invalid_payload", ""}},
		{"text at the limit", hook, ct, `{"text":"` + strings.Repeat("é", MaxText) + `"}`,
			answerText{200, "ok", ""}},
		{"attachments only", hook, "application/json; charset=utf-8", `{"attachments":[{"title":"t"}]}`,
			answerText{200, "ok", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, post(t, tc.url, tc.contentType, tc.body)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
	if got := len(s.Received()); got != 2 {
		t.Errorf("accepted %d posts, want the 2 valid ones", got)
	}
}

func TestServerRecords(t *testing.T) {
	s := NewServer()
	defer s.Close()
	hook := s.NewWebhook()
	body := `{"text":"<!subteam^S0123ABC> <@U0123ABC> <!date^1^{time}|x>","attachments":[{"title":"a &lt;!channel&gt;","text":"<!here> <https://x|y>"}]}`
	if got := post(t, hook, "application/json", body); got.Status != 200 {
		t.Fatalf("answer %+v", got)
	}
	want := []Request{{
		Webhook: strings.TrimPrefix(hook, s.URL()+"/services/"),
		Message: Message{
			Text:        "<!subteam^S0123ABC> <@U0123ABC> <!date^1^{time}|x>",
			Attachments: []Attachment{{Title: "a &lt;!channel&gt;", Text: "<!here> <https://x|y>"}},
		},
		Body:     []byte(body),
		Mentions: []string{"<!subteam^S0123ABC>", "<@U0123ABC>", "<!here>"},
	}}
	got := s.Received()
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Request{}, "At")); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
	if len(got) == 1 && got[0].At.IsZero() {
		t.Error("the post was recorded without its time")
	}
}

func TestServerRateLimit(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.SetRateLimit(2, 2*time.Hour)
	hook, other := s.NewWebhook(), s.NewWebhook()
	var got []answerText
	for range 3 {
		got = append(got, post(t, hook, "application/json", `{"text":"hi"}`))
	}
	got = append(got, post(t, other, "application/json", `{"text":"hi"}`))
	want := []answerText{
		{200, "ok", ""},
		{200, "ok", ""},
		{429, `{"retry_after":3600,"ok":false,"error":"rate_limited"}`, "3600"},
		{200, "ok", ""}, // each webhook has its own limit
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}

func TestServerInjectedFailures(t *testing.T) {
	s := NewServer()
	defer s.Close()
	hook := s.NewWebhook()
	s.FailNext(2, fakeapi.Fault{Status: http.StatusServiceUnavailable, Body: "rollup_error", RetryAfter: 5 * time.Second})
	s.FailNext(1, fakeapi.Fault{HangUp: true})
	want := answerText{503, "rollup_error", "5"}
	for i := range 2 {
		if diff := cmp.Diff(want, post(t, hook, "application/json", `{"text":"hi"}`)); diff != "" {
			t.Errorf("post %d (-want +got):\n%s", i, diff)
		}
	}
	if _, err := http.Post(hook, "application/json", strings.NewReader(`{"text":"hi"}`)); err == nil {
		t.Error("post after a HangUp fault got an answer, want a dropped connection")
	}
	if got := post(t, hook, "application/json", `{"text":"hi"}`); got.Status != 200 {
		t.Errorf("post after the failures: %+v, want 200", got)
	}
	if got := s.Attempts(); got != 4 {
		t.Errorf("Attempts() = %d, want 4", got)
	}
	s.Close()
	_, err := http.Post(hook, "application/json", strings.NewReader(`{"text":"hi"}`))
	if err == nil || errors.Is(err, io.EOF) {
		t.Errorf("post to a closed server: %v, want connection refused", err)
	}
}
