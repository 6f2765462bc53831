package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxErrorBody is how much of an upstream's error answer is kept for logs.
const maxErrorBody = 512

// PostJSON sends body as JSON to rawURL and returns the status and up to
// 64 KiB of the answer. Transport failures come back as retryable *Error
// with any secret in the URL (a Slack or Discord webhook token) redacted.
func PostJSON(ctx context.Context, client *http.Client, rawURL string, header http.Header, body any) (*http.Response, []byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, nil, Errorf(ReasonInvalid, "encoding request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(data))
	if err != nil {
		return nil, nil, Errorf(ReasonInvalid, "building request: %w", RedactURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "klaxon-receiver")
	for k, v := range header {
		req.Header[k] = v
	}
	return Do(ctx, client, req)
}

// Do sends req, made with ctx, and returns the status and up to 64 KiB of
// the answer. Transport failures come back as retryable *Error with the
// URL's path and query redacted; an answer that cannot be read is one
// too, unless its status is 2xx: the upstream took the message.
func Do(ctx context.Context, client *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		reason := ReasonNetwork
		// A timeout set with a cause reports the cause, not
		// DeadlineExceeded: ask the context.
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			reason = ReasonTimeout
		}
		return nil, nil, &Error{Retry: true, Reason: reason, Err: RedactURL(err)}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// The upstream took the message: retrying would post it twice.
		return resp, answer, nil
	}
	if err != nil {
		return resp, nil, &Error{Retry: true, StatusCode: resp.StatusCode, Reason: ReasonNetwork, Err: fmt.Errorf("reading answer: %w", RedactURL(err))}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp, answer, nil
}

// CheckStatus classifies an upstream's answer: nil for 2xx; a retryable
// *Error for 429 (with its Retry-After), 408 and 5xx; a permanent one for
// any other status, carrying the upstream's reason from body.
func CheckStatus(resp *http.Response, body []byte) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	err := fmt.Errorf("upstream answered %s: %s", resp.Status, Excerpt(body))
	e := &Error{StatusCode: code, Err: err}
	switch {
	case code == http.StatusTooManyRequests:
		e.Retry, e.Reason = true, ReasonRateLimited
		e.RetryAfter = RetryAfter(resp.Header, time.Now())
	case code == http.StatusRequestTimeout || code >= 500:
		e.Retry, e.Reason = true, ReasonServerError
		e.RetryAfter = RetryAfter(resp.Header, time.Now())
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		e.Reason = ReasonAuthError
	default:
		e.Reason = ReasonClientError
	}
	return e
}

// RetryAfter reads a Retry-After header, in seconds or as an HTTP date;
// 0 when absent or unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Excerpt returns the start of an upstream's answer for a log line: valid
// UTF-8, one line, at most maxErrorBody bytes.
func Excerpt(body []byte) string {
	s := strings.ToValidUTF8(string(body), "�")
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "(empty answer)"
	}
	out, _ := Truncate(s, maxErrorBody)
	return out
}

// Truncate shortens s to at most n runes, ending it with "…" when cut, and
// says whether it cut.
func Truncate(s string, n int) (string, bool) {
	if utf8.RuneCountInString(s) <= n {
		return s, false
	}
	if n <= 0 {
		return "", true
	}
	runes := []rune(s)
	return string(runes[:n-1]) + "…", true
}

// RedactURL hides the path and query of the URL in a *url.Error, where
// webhook tokens live, keeping the scheme and host for the reader.
func RedactURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return &url.Error{Op: ue.Op, URL: "<redacted>", Err: ue.Err}
	}
	redacted := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" {
		redacted += "/<redacted>"
	}
	return &url.Error{Op: ue.Op, URL: redacted, Err: ue.Err}
}
