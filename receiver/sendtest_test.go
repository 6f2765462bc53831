package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/notify/fakeapi"
	"github.com/klaxonhq/klaxon/pkg/notify/pagerduty/pagerdutytest"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
)

// TestSendTestErrors: send-test tells an upstream it cannot reach from
// one that refuses the message, and names neither webhook token nor
// routing key.
func TestSendTestErrors(t *testing.T) {
	const routingKey = "R0UT1NGKEY0000000000000000000001"
	slackUp := slacktest.NewServer()
	defer slackUp.Close()
	upHook := slackUp.NewWebhook()
	slackDown := slacktest.NewServer()
	downHook := slackDown.NewWebhook()
	slackDown.Close()
	pd := pagerdutytest.NewServer()
	defer pd.Close()
	silent := testenv.SilentListener(t)

	dir := t.TempDir()
	file := filepath.Join(dir, "receiver.yml")
	writeFile(t, file, fmt.Sprintf(`storage:
  path: %s
channels:
  - name: up
    slack: {webhook_url: %q}
  - name: down
    slack: {webhook_url: %q}
  - name: silent
    slack: {webhook_url: "http://%s/services/T000/B000/s3cretsilent", timeout: 100ms}
  - name: pager
    pagerduty: {routing_key: %s, url: %q}
  - name: missing
    slack: {webhook_url_file: no-such-file}
`, filepath.Join(dir, "receiver.db"), upHook, downHook, silent, routingKey, pd.URL()))
	secrets := []string{routingKey, "s3cretsilent", upHook[strings.LastIndex(upHook, "/")+1:], downHook[strings.LastIndex(downHook, "/")+1:]}

	slackUp.FailNext(1, fakeapi.Fault{Status: http.StatusForbidden, Body: "invalid_token"})
	pd.FailNext(1, fakeapi.Fault{Status: http.StatusBadRequest, Body: `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect"]}`})
	downHost := strings.TrimPrefix(strings.Split(downHook, "/services/")[0], "http://")
	for _, tc := range []struct {
		channel string
		kind    error
		want    string
	}{
		{"down", ErrUnreachable, `channel "down" (slack): could not reach ` + downHost + ` (network): `},
		{"silent", ErrUnreachable, `channel "silent" (slack): could not reach ` + silent + ` (timeout): `},
		{"up", ErrRefused, `channel "up" (slack): upstream refused: 403 Forbidden (authError, a delivery would not be retried): posting to slack: upstream answered 403 Forbidden: invalid_token`},
		{"pager", ErrRefused, `channel "pager" (pagerduty): upstream refused: 400 Bad Request (clientError, a delivery would not be retried): `},
		{"missing", nil, `channel "missing" (slack): the test message was not sent: `},
	} {
		err := SendTest(t.Context(), file, tc.channel, io.Discard, promslog.NewNopLogger())
		switch {
		case err == nil:
			t.Errorf("%s: sent, want an error", tc.channel)
			continue
		case tc.kind != nil && !errors.Is(err, tc.kind):
			t.Errorf("%s: %v, want %v", tc.channel, err, tc.kind)
		case tc.kind == nil && (errors.Is(err, ErrUnreachable) || errors.Is(err, ErrRefused)):
			t.Errorf("%s: %v, want neither unreachable nor refused", tc.channel, err)
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant it to start with %s", tc.channel, err, tc.want)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: the error shows a secret: %v", tc.channel, err)
			}
		}
	}
	if err := SendTest(t.Context(), file, "up", io.Discard, promslog.NewNopLogger()); err != nil {
		t.Errorf("up, once Slack takes messages again: %v", err)
	}
}
