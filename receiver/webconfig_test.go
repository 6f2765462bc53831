package main

import (
	"net/http"
	"testing"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// TestWebConfig runs the built klaxon-receiver with --web.config.file
// asking for TLS and basic auth, and talks to it over real TLS.
func TestWebConfig(t *testing.T) {
	bin := testenv.Binary(t, "klaxon-receiver")
	dir := t.TempDir()
	wc := testenv.WriteWebConfig(t, dir)
	addr := testenv.FreeAddr(t)
	config := writeConfig(t, dir, addr, newFakes(t), "")
	p := testenv.StartProcess(t, "", bin, "--config.file="+config, "--web.listen-address="+addr, "--web.config.file="+wc.File)
	base := "https://" + addr
	wc.AwaitReady(t, p, base+"/-/ready", startTimeout)

	for _, path := range []string{"/metrics", "/-/ready", "/"} {
		wc.CheckAuth(t, base+path)
	}
	wc.CheckTLS(t, addr)

	// Alertmanager's webhook needs the password too.
	hook := base + "/webhook/chat"
	body := encode(t, message("WebConfig", "firing"))
	if resp, _, err := wc.Do(t, http.MethodPost, hook, "", "", body); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST %s without credentials: %v %v, want 401", hook, status(resp), err)
	}
	if resp, answer, err := wc.Do(t, http.MethodPost, hook, wc.User, wc.Password, body); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("POST %s with the right password: %v %q %v, want 200", hook, status(resp), answer, err)
	}
}

func status(resp *http.Response) string {
	if resp == nil {
		return "no answer"
	}
	return resp.Status
}
