package discordtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
)

// Discord's limits, as its API reference documents them. Texts are
// measured in characters after trimming whitespace.
const (
	maxContent     = 2000
	maxUsername    = 80
	maxEmbeds      = 10
	maxTitle       = 256
	maxDescription = 4096
	maxFields      = 25
	maxFieldName   = 256
	maxFieldValue  = 1024
	maxFooter      = 2048
	maxAuthor      = 256
	maxEmbedTotal  = 6000
	maxMentionIDs  = 100
	maxColor       = 0xFFFFFF
)

// fieldError is one entry of a 50035 "Invalid Form Body" answer.
type fieldError struct {
	path, code, message string
}

type fieldErrors []fieldError

func (e *fieldErrors) add(path, code, format string, args ...any) {
	*e = append(*e, fieldError{path, code, fmt.Sprintf(format, args...)})
}

// maxLen checks a text's length after trimming.
func (e *fieldErrors) maxLen(path, s string, n int) {
	if utf8.RuneCountInString(strings.TrimSpace(s)) > n {
		e.add(path, "BASE_TYPE_MAX_LENGTH", "Must be %d or fewer in length.", n)
	}
}

// required checks a text that must not be empty after trimming.
func (e *fieldErrors) required(path, s string, n int) {
	if strings.TrimSpace(s) == "" {
		e.add(path, "BASE_TYPE_REQUIRED", "This field is required")
		return
	}
	e.maxLen(path, s, n)
}

func (e *fieldErrors) webURL(path, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
	}
}

// tree nests the errors as Discord does:
// {"embeds": {"0": {"title": {"_errors": [{"code", "message"}]}}}}.
func (e fieldErrors) tree() map[string]any {
	root := map[string]any{}
	for _, fe := range e {
		node := root
		for _, part := range strings.Split(fe.path, ".") {
			child, ok := node[part].(map[string]any)
			if !ok {
				child = map[string]any{}
				node[part] = child
			}
			node = child
		}
		list, _ := node["_errors"].([]any)
		node["_errors"] = append(list, map[string]string{"code": fe.code, "message": fe.message})
	}
	return root
}

// writeError answers with Discord's JSON error body.
func writeError(w http.ResponseWriter, status, code int, message string, errs fieldErrors) {
	body := map[string]any{"message": message, "code": code}
	if len(errs) > 0 {
		body["errors"] = errs.tree()
	}
	fakeapi.WriteJSON(w, status, body)
}

// execute decodes, checks and records a message for webhook id.
func (s *Server) execute(w http.ResponseWriter, r *http.Request, id string) {
	raw, err := readJSON(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON. ("+err.Error()+")", nil)
		return
	}
	var msg Message
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&msg); err != nil {
		writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON. ("+err.Error()+")", nil)
		return
	}
	if errs := validate(&msg); len(errs) > 0 {
		writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body", errs)
		return
	}
	if strings.TrimSpace(msg.Content) == "" && len(msg.Embeds) == 0 {
		writeError(w, http.StatusBadRequest, 50006, "Cannot send an empty message", nil)
		return
	}
	wait, _ := strconv.ParseBool(r.URL.Query().Get("wait"))
	msgID := s.record(Received{WebhookID: id, Wait: wait, Body: msg, Raw: raw, At: s.limit.Now()})
	if !wait {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	fakeapi.WriteJSON(w, http.StatusOK, s.created(msgID, id, &msg))
}

func readJSON(r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, fmt.Errorf("content type %q is not application/json", r.Header.Get("Content-Type"))
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxBody {
		return nil, fmt.Errorf("body larger than %d bytes", maxBody)
	}
	return raw, nil
}

func (s *Server) record(rec Received) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, rec)
	s.lastID++
	return strconv.FormatUint(1_300_000_000_000_000_000+s.lastID, 10)
}

// created is the message object Discord returns for ?wait=true.
func (s *Server) created(msgID, webhookID string, m *Message) map[string]any {
	now := s.limit.Now()
	name := m.Username
	if name == "" {
		name = "Fake Webhook"
	}
	embeds := m.Embeds
	if embeds == nil {
		embeds = []Embed{}
	}
	return map[string]any{
		"id": msgID, "type": 0, "channel_id": "1100000000000000000", "webhook_id": webhookID,
		"content": m.Content, "embeds": embeds, "tts": m.TTS, "flags": m.Flags,
		"author":    map[string]any{"id": webhookID, "username": name, "bot": true},
		"timestamp": now.UTC().Format(time.RFC3339Nano),
		"mentions":  []any{}, "mention_roles": []any{}, "mention_everyone": false,
		"attachments": []any{}, "components": []any{}, "pinned": false,
	}
}

// validate checks a message as Discord does and lists every violation.
func validate(m *Message) fieldErrors {
	var errs fieldErrors
	errs.maxLen("content", m.Content, maxContent)
	if m.Username != "" {
		errs.required("username", m.Username, maxUsername)
		lower := strings.ToLower(m.Username)
		for _, bad := range []string{"clyde", "discord"} {
			if strings.Contains(lower, bad) {
				errs.add("username", "USERNAME_INVALID_CONTAINS", "Username cannot contain %q", bad)
			}
		}
	}
	errs.webURL("avatar_url", m.AvatarURL)
	if len(m.Embeds) > maxEmbeds {
		errs.add("embeds", "BASE_TYPE_MAX_LENGTH", "Must be %d or fewer in length.", maxEmbeds)
	}
	total := 0
	for i := range m.Embeds {
		total += validateEmbed(&errs, fmt.Sprintf("embeds.%d", i), &m.Embeds[i])
	}
	if total > maxEmbedTotal {
		errs.add("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of %d", maxEmbedTotal)
	}
	if m.AllowedMentions != nil {
		validateMentions(&errs, m.AllowedMentions)
	}
	return errs
}

// validateEmbed checks one embed and returns its size towards the total.
func validateEmbed(errs *fieldErrors, path string, e *Embed) int {
	size := textLen(e.Title) + textLen(e.Description)
	errs.maxLen(path+".title", e.Title, maxTitle)
	errs.maxLen(path+".description", e.Description, maxDescription)
	errs.webURL(path+".url", e.URL)
	if e.Type != "" && e.Type != "rich" {
		errs.add(path+".type", "BASE_TYPE_CHOICES", "Value must be one of {'rich'}.")
	}
	if e.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
			errs.add(path+".timestamp", "DATE_TIME_TYPE_PARSE", "Could not parse %s. Should be ISO8601.", e.Timestamp)
		}
	}
	if e.Color != nil && (*e.Color < 0 || *e.Color > maxColor) {
		errs.add(path+".color", "NUMBER_TYPE_MAX", "int value should be less than or equal to %d.", maxColor)
	}
	if e.Footer != nil {
		errs.required(path+".footer.text", e.Footer.Text, maxFooter)
		size += textLen(e.Footer.Text)
	}
	if e.Author != nil {
		errs.required(path+".author.name", e.Author.Name, maxAuthor)
		size += textLen(e.Author.Name)
	}
	if len(e.Fields) > maxFields {
		errs.add(path+".fields", "BASE_TYPE_MAX_LENGTH", "Must be %d or fewer in length.", maxFields)
	}
	for j, f := range e.Fields {
		fp := fmt.Sprintf("%s.fields.%d", path, j)
		errs.required(fp+".name", f.Name, maxFieldName)
		errs.required(fp+".value", f.Value, maxFieldValue)
		size += textLen(f.Name) + textLen(f.Value)
	}
	return size
}

func validateMentions(errs *fieldErrors, am *AllowedMentions) {
	for i, p := range am.Parse {
		if !slices.Contains([]string{"roles", "users", "everyone"}, p) {
			errs.add(fmt.Sprintf("allowed_mentions.parse.%d", i), "BASE_TYPE_CHOICES", "Value must be one of ('roles', 'users', 'everyone').")
		}
	}
	for _, kind := range []struct {
		name string
		ids  []string
	}{{"roles", am.Roles}, {"users", am.Users}} {
		if slices.Contains(am.Parse, kind.name) && len(kind.ids) > 0 {
			errs.add("allowed_mentions", "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
				"parse:[%q] and %s: [ids...] are mutually exclusive.", kind.name, kind.name)
		}
		if len(kind.ids) > maxMentionIDs {
			errs.add("allowed_mentions."+kind.name, "BASE_TYPE_MAX_LENGTH", "Must be %d or fewer in length.", maxMentionIDs)
		}
		for i, id := range kind.ids {
			if _, err := strconv.ParseUint(id, 10, 64); err != nil {
				errs.add(fmt.Sprintf("allowed_mentions.%s.%d", kind.name, i), "NUMBER_TYPE_COERCE", "Value %q is not snowflake.", id)
			}
		}
	}
}

func textLen(s string) int { return utf8.RuneCountInString(strings.TrimSpace(s)) }

var pingRE = regexp.MustCompile(`@everyone|@here|<@!?([0-9]+)>|<@&([0-9]+)>`)

// Pings lists who the message notifies, as Discord decides: only mentions
// in content count (those in embeds render but notify nobody), filtered
// by allowed_mentions. Without allowed_mentions the fake assumes the worst,
// that everything pings. "@everyone" and "@here" come back as written,
// users as "<@ID>" and roles as "<@&ID>".
func (r Received) Pings() []string {
	am := r.Body.AllowedMentions
	allowed := func(kind, id string) bool {
		if am == nil {
			return true
		}
		return slices.Contains(am.Parse, kind) || (kind == "users" && slices.Contains(am.Users, id)) ||
			(kind == "roles" && slices.Contains(am.Roles, id))
	}
	out := []string{}
	for _, m := range pingRE.FindAllStringSubmatch(r.Body.Content, -1) {
		var ping string
		switch {
		case m[1] != "" && allowed("users", m[1]):
			ping = "<@" + m[1] + ">"
		case m[2] != "" && allowed("roles", m[2]):
			ping = "<@&" + m[2] + ">"
		case (m[0] == "@everyone" || m[0] == "@here") && allowed("everyone", ""):
			ping = m[0]
		}
		if ping != "" && !slices.Contains(out, ping) {
			out = append(out, ping)
		}
	}
	return out
}
