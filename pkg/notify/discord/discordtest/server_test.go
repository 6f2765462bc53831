package discordtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
)

const (
	hookID    = "1200000000000000001"
	hookToken = "tok3n-secret"
)

func start(t *testing.T) (*Server, string) {
	t.Helper()
	s := NewServer()
	t.Cleanup(s.Close)
	return s, s.AddWebhook(hookID, hookToken)
}

type answer struct {
	Status  int
	Code    int    `json:"code"`
	Message string `json:"message"`
	Errors  map[string]any
	Header  http.Header `json:"-"`
	Raw     string      `json:"-"`
}

func post(t *testing.T, url, contentType, body string) answer {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("answer %q: %v", raw, err)
		}
	}
	return a
}

// errorPaths flattens a 50035 errors tree to "path: CODE" lines.
func errorPaths(tree map[string]any, prefix string) []string {
	var out []string
	for k, v := range tree {
		if k == "_errors" {
			for _, e := range v.([]any) {
				out = append(out, strings.TrimPrefix(prefix, ".")+": "+e.(map[string]any)["code"].(string))
			}
			continue
		}
		out = append(out, errorPaths(v.(map[string]any), prefix+"."+k)...)
	}
	return out
}

func repeat(n int) string { return strings.Repeat("x", n) }

func embedJSON(fields string) string { return `{"embeds": [{` + fields + `}]}` }

func TestRejectsWhatDiscordRejects(t *testing.T) {
	s, url := start(t)
	s.SetRateLimit(0, 0)
	fields26 := strings.TrimSuffix(strings.Repeat(`{"name":"n","value":"v"},`, 26), ",")
	big := `{"description": "` + repeat(4000) + `"}`
	for _, tc := range []struct {
		name, url, body string
		status, code    int
		paths           []string
	}{
		{"unknown webhook", s.WebhookURL("1", hookToken), `{"content":"hi"}`, 404, 10015, nil},
		{"wrong token", s.WebhookURL(hookID, "other"), `{"content":"hi"}`, 404, 10015, nil},
		{"empty message", url, `{"content":"  "}`, 400, 50006, nil},
		{"no body fields", url, `{}`, 400, 50006, nil},
		{"invalid json", url, `{"content":`, 400, 50109, nil},
		{"unknown key", url, `{"contents":"hi"}`, 400, 50109, nil},
		{"content", url, `{"content":"` + repeat(2001) + `"}`, 400, 50035, []string{"content: BASE_TYPE_MAX_LENGTH"}},
		{"username discord", url, `{"content":"hi","username":"My Discord bot"}`, 400, 50035, []string{"username: USERNAME_INVALID_CONTAINS"}},
		{"username long", url, `{"content":"hi","username":"` + repeat(81) + `"}`, 400, 50035, []string{"username: BASE_TYPE_MAX_LENGTH"}},
		{"avatar", url, `{"content":"hi","avatar_url":"ftp://x"}`, 400, 50035, []string{"avatar_url: URL_TYPE_INVALID_URL"}},
		{"11 embeds", url, `{"embeds":[` + strings.TrimSuffix(strings.Repeat(`{"title":"t"},`, 11), ",") + `]}`, 400, 50035, []string{"embeds: BASE_TYPE_MAX_LENGTH"}},
		{"title", url, embedJSON(`"title":"` + repeat(257) + `"`), 400, 50035, []string{"embeds.0.title: BASE_TYPE_MAX_LENGTH"}},
		{"description", url, embedJSON(`"description":"` + repeat(4097) + `"`), 400, 50035, []string{"embeds.0.description: BASE_TYPE_MAX_LENGTH"}},
		{"26 fields", url, embedJSON(`"fields":[` + fields26 + `]`), 400, 50035, []string{"embeds.0.fields: BASE_TYPE_MAX_LENGTH"}},
		{"field name", url, embedJSON(`"fields":[{"name":"` + repeat(257) + `","value":"v"}]`), 400, 50035, []string{"embeds.0.fields.0.name: BASE_TYPE_MAX_LENGTH"}},
		{"field value", url, embedJSON(`"fields":[{"name":"n","value":"` + repeat(1025) + `"}]`), 400, 50035, []string{"embeds.0.fields.0.value: BASE_TYPE_MAX_LENGTH"}},
		{"empty field value", url, embedJSON(`"fields":[{"name":"n","value":" "}]`), 400, 50035, []string{"embeds.0.fields.0.value: BASE_TYPE_REQUIRED"}},
		{"footer", url, embedJSON(`"footer":{"text":"` + repeat(2049) + `"}`), 400, 50035, []string{"embeds.0.footer.text: BASE_TYPE_MAX_LENGTH"}},
		{"author", url, embedJSON(`"author":{"name":"` + repeat(257) + `"}`), 400, 50035, []string{"embeds.0.author.name: BASE_TYPE_MAX_LENGTH"}},
		{"color", url, embedJSON(`"color":16777216`), 400, 50035, []string{"embeds.0.color: NUMBER_TYPE_MAX"}},
		{"timestamp", url, embedJSON(`"timestamp":"yesterday"`), 400, 50035, []string{"embeds.0.timestamp: DATE_TIME_TYPE_PARSE"}},
		{"6000 in total", url, `{"embeds":[` + big + `,` + big + `]}`, 400, 50035, []string{"embeds: MAX_EMBED_SIZE_EXCEEDED"}},
		{"parse and users", url, `{"content":"<@1>","allowed_mentions":{"parse":["users"],"users":["1"]}}`, 400, 50035, []string{"allowed_mentions: MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"}},
		{"parse and roles", url, `{"content":"<@&1>","allowed_mentions":{"parse":["roles"],"roles":["1"]}}`, 400, 50035, []string{"allowed_mentions: MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"}},
		{"parse choice", url, `{"content":"hi","allowed_mentions":{"parse":["here"]}}`, 400, 50035, []string{"allowed_mentions.parse.0: BASE_TYPE_CHOICES"}},
		{"not a snowflake", url, `{"content":"hi","allowed_mentions":{"parse":[],"users":["bob"]}}`, 400, 50035, []string{"allowed_mentions.users.0: NUMBER_TYPE_COERCE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := post(t, tc.url, "application/json", tc.body)
			if got.Status != tc.status || got.Code != tc.code {
				t.Fatalf("got %d code %d (%s), want %d code %d", got.Status, got.Code, got.Raw, tc.status, tc.code)
			}
			if diff := cmp.Diff(tc.paths, errorPaths(got.Errors, "")); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	if got := post(t, url, "text/plain", `{"content":"hi"}`); got.Status != 400 || got.Code != 50109 {
		t.Errorf("text/plain body: got %d code %d, want 400 code 50109", got.Status, got.Code)
	}
	if n := len(s.Received()); n != 0 {
		t.Errorf("the fake recorded %d rejected messages", n)
	}
}

func TestAcceptsAndRecords(t *testing.T) {
	s, url := start(t)
	body := `{"content":"<@&7> @everyone <@8>","embeds":[{"title":"t","color":0,"fields":[{"name":"n","value":"v","inline":true}]}],` +
		`"allowed_mentions":{"parse":[],"roles":["7"],"users":[]}}`
	if got := post(t, url, "application/json", body); got.Status != http.StatusNoContent {
		t.Fatalf("without wait: got %d %s, want 204", got.Status, got.Raw)
	}
	got := post(t, url+"?wait=true", "application/json", body)
	if got.Status != http.StatusOK {
		t.Fatalf("with wait: got %d %s, want 200", got.Status, got.Raw)
	}
	var created struct {
		ID        string `json:"id"`
		WebhookID string `json:"webhook_id"`
		Content   string `json:"content"`
	}
	if err := json.Unmarshal([]byte(got.Raw), &created); err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.WebhookID != hookID || created.Content != "<@&7> @everyone <@8>" {
		t.Errorf("created message %+v", created)
	}
	recs := s.Received()
	if len(recs) != 2 || recs[0].Wait || !recs[1].Wait || recs[1].WebhookID != hookID {
		t.Fatalf("received %+v", recs)
	}
	if diff := cmp.Diff([]string{"<@&7>"}, recs[1].Pings()); diff != "" {
		t.Errorf("pings (-want +got):\n%s", diff)
	}
	if !bytes.Equal(recs[1].Raw, []byte(body)) {
		t.Errorf("raw body %s, want %s", recs[1].Raw, body)
	}
	unrestricted := Received{Body: Message{Content: "@here <@!9> <@&7> @\u200beveryone"}}
	if diff := cmp.Diff([]string{"@here", "<@9>", "<@&7>"}, unrestricted.Pings()); diff != "" {
		t.Errorf("pings without allowed_mentions (-want +got):\n%s", diff)
	}
}

func TestRateLimit(t *testing.T) {
	s, url := start(t)
	clock := testkit.NewClock(time.Unix(1_800_000_000, 0))
	s.SetClock(clock.Now)
	s.SetRateLimit(2, 2*time.Second)
	for i, want := range []string{"1", "0"} {
		got := post(t, url, "application/json", `{"content":"hi"}`)
		if got.Status != 204 || got.Header.Get("X-RateLimit-Remaining") != want || got.Header.Get("X-RateLimit-Limit") != "2" {
			t.Fatalf("request %d: %d remaining %q", i, got.Status, got.Header.Get("X-RateLimit-Remaining"))
		}
	}
	clock.Advance(500 * time.Millisecond)
	got := post(t, url, "application/json", `{"content":"hi"}`)
	var body struct {
		RetryAfter float64 `json:"retry_after"`
		Global     bool    `json:"global"`
	}
	if err := json.Unmarshal([]byte(got.Raw), &body); err != nil {
		t.Fatal(err)
	}
	if got.Status != 429 || body.RetryAfter != 1.5 || got.Header.Get("Retry-After") != "2" || got.Header.Get("X-RateLimit-Reset-After") != "1.500" {
		t.Fatalf("third request: %d %s, headers %v", got.Status, got.Raw, got.Header)
	}
	clock.Advance(1500 * time.Millisecond)
	if got := post(t, url, "application/json", `{"content":"hi"}`); got.Status != 204 {
		t.Fatalf("after the reset: %d %s", got.Status, got.Raw)
	}
	if n := len(s.Received()); n != 3 {
		t.Errorf("received %d, want 3 (the 429 is not recorded)", n)
	}
}

func TestInjectedAnswers(t *testing.T) {
	s, url := start(t)
	s.FailNext(1, GlobalRateLimit(1500*time.Millisecond))
	s.FailNext(1, fakeapi.Fault{Status: 502})
	s.FailNext(1, fakeapi.Fault{HangUp: true})
	got := post(t, url, "application/json", `{"content":"hi"}`)
	if got.Status != 429 || got.Header.Get("Retry-After") != "2" || got.Header.Get("X-RateLimit-Global") != "true" || !strings.Contains(got.Raw, `"retry_after":1.5`) {
		t.Errorf("first: %d %s %v", got.Status, got.Raw, got.Header)
	}
	if got := post(t, url, "application/json", `{"content":"hi"}`); got.Status != 502 {
		t.Errorf("second: %d, want 502", got.Status)
	}
	if _, err := http.Post(url, "application/json", strings.NewReader(`{"content":"hi"}`)); err == nil {
		t.Error("third: the connection was not closed")
	}
	if got := post(t, url, "application/json", `{"content":"hi"}`); got.Status != 204 {
		t.Errorf("fourth: %d, want 204", got.Status)
	}
	if s.Attempts() != 4 || len(s.Received()) != 1 {
		t.Errorf("attempts %d received %d, want 4 and 1", s.Attempts(), len(s.Received()))
	}
	s.Close()
	_, err := http.Post(url, "application/json", strings.NewReader(`{"content":"hi"}`))
	if err == nil || errors.Is(err, io.EOF) {
		t.Errorf("after Close: %v, want connection refused", err)
	}
}
