package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/pkg/store"
	"github.com/klaxonhq/klaxon/pkg/store/sqlite"
)

// TestRetryDeadLettersReportsSuperseded: dead-letters retry requeues what it
// can and names the dead letters it left because a later delivery to the
// same channel was made.
func TestRetryDeadLettersReportsSuperseded(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "receiver.db")
	file := filepath.Join(dir, "receiver.yml")
	writeFile(t, file, "storage:\n  path: "+db+"\n")

	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, sqlite.Options{Logger: promslog.NewNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, kind := range []string{"trigger", "resolve", "trigger"} {
		in := &store.Ingest{Route: "ops", IncidentKey: "inc1", GroupKey: "g", StateHash: kind + at.String(),
			Status: "firing", Kind: kind, Payload: []byte("{}"), Channels: []string{"pager"}, ReceivedAt: at}
		if _, err := st.Ingest(ctx, in); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Second)
	}
	// The first trigger dies, its resolve goes through, the second trigger
	// dies: only the second can be requeued.
	for _, outcome := range []string{"bury", "complete", "bury"} {
		ds, err := st.Claim(ctx, at, time.Minute, 1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("claim: %v, %v", ds, err)
		}
		if outcome == "bury" {
			err = st.Bury(ctx, ds[0].Lease(), "rejected")
		} else {
			err = st.Complete(ctx, ds[0].Lease(), at)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	if err := RetryDeadLetters(ctx, file, nil, &out); err != nil {
		t.Fatal(err)
	}
	want := "1 dead letters queued for delivery again\n" +
		"skipped 1 dead letters superseded by a later delivery to the same channel: 1\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Fatalf("output (-want +got):\n%s", diff)
	}
}
