package receiverconfig

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLoadFileBadDurations: a duration the config cannot read names its
// file, line and key and the units there are, every one at once.
func TestLoadFileBadDurations(t *testing.T) {
	path := filepath.Join("testdata", "bad-durations.yml")
	_, err := LoadFile(path)
	if err == nil {
		t.Fatal("loaded, want an error")
	}
	want := path + `:2: global.dead_letter_after: "2 days" is not a duration (use ms, s, m, h, d, w, y e.g. 90s, 5m)` + "\n" +
		path + `:9: escalation_policies[0].levels[1].delay: "5mins" is not a duration (use ms, s, m, h, d, w, y e.g. 90s, 5m)`
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

// TestParseDurationUnits: days and weeks are read where Go's durations
// stop at hours.
func TestParseDurationUnits(t *testing.T) {
	c, err := Parse("inline.yml", []byte("global:\n  dead_letter_after: 2d\nusers: [{name: alice}]\n"+
		"escalation_policies:\n  - name: default\n    ack_timeout: 1w\n    levels: [{targets: [{user: alice}]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Global.DeadLetterAfter.String(); got != "48h0m0s" {
		t.Errorf("dead_letter_after = %s, want 48h", got)
	}
	if got := c.EscalationPolicies[0].AckTimeout.String(); got != "168h0m0s" {
		t.Errorf("ack_timeout = %s, want 168h", got)
	}
}
