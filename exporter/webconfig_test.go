package main

import (
	"testing"

	"github.com/klaxonhq/klaxon/internal/testenv"
)

// TestWebConfig runs the built klaxon-exporter with --web.config.file
// asking for TLS and basic auth, and talks to it over real TLS.
func TestWebConfig(t *testing.T) {
	bin := testenv.Binary(t, "klaxon-exporter")
	wc := testenv.WriteWebConfig(t, t.TempDir())
	addr := testenv.FreeAddr(t)
	p := testenv.StartProcess(t, "", bin, "--web.listen-address="+addr, "--web.config.file="+wc.File)
	base := "https://" + addr
	wc.AwaitReady(t, p, base+"/-/ready", startTimeout)

	for _, path := range []string{"/metrics", "/-/ready", "/"} {
		wc.CheckAuth(t, base+path)
	}
	wc.CheckTLS(t, addr)
}
