package chaos

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/alert"
)

// StorePlan sizes a store-trouble scenario.
type StorePlan struct {
	// Before incidents are accepted before the trouble, After once it is
	// over.
	Before, After int
	// Wait bounds how long the deliveries may take after the trouble.
	Wait time.Duration
}

// StoreReport is what a store-trouble scenario finds besides the figures.
type StoreReport struct {
	// Refusal is the receiver's answer to a post while the store was in
	// trouble.
	Refusal string
	// Refused counts the posts answered 503 while the store was in
	// trouble, Taken those answered 200 (a full disk may still find room
	// for a small write).
	Refused, Taken int
	// Recovered is how long after the disk recovered the receiver took a
	// post again.
	Recovered time.Duration
	// NotReady is the receiver's answer to /-/ready while it could not
	// open its store, in the scenarios that start it so.
	NotReady string
	// Logged counts the lines in which the receiver said that its store
	// was unavailable, over all its attempts to open it.
	Logged int
}

// storeRoute is the route the store scenarios post to.
const storeRoute = "critical"

// tmpfsSize is the size of the tmpfs a full disk is staged on: room for
// the store's file and write-ahead log, and little more.
const tmpfsSize = "16m"

// FullDisk runs the receiver with its store on a small tmpfs, which the
// scenario then fills to the last byte: the webhook must answer 503 (so
// that Alertmanager retries) and, once the filler is deleted, take
// notifications again by itself. Everything it accepted, before and
// after, must be delivered. Mounting a tmpfs takes root; without it the
// scenario is skipped, and fails in CI.
func FullDisk(t testing.TB, bin string, plan StorePlan) (Figures, StoreReport) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "a full disk is staged on a size-limited tmpfs, which only root can mount")
	}
	start := time.Now()
	dir := filepath.Join(t.TempDir(), "data")
	testenv.Mount(t, "tmpfs", dir, "tmpfs", 0, "size="+tmpfsSize+",mode=0700")
	g := NewRig(t, bin, dir, []string{storeRoute})
	g.Receiver.Start(t)
	client := &http.Client{Timeout: time.Minute}
	postIncidents(t, client, g, "ChaosBeforeFull", plan.Before)

	filler := filepath.Join(dir, "filler")
	if err := fill(filler); err != nil {
		t.Fatal(err)
	}
	rep, refused := refuse(t, client, g, "ChaosWhileFull", "full")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	rep.Recovered = retry(t, client, g, refused)
	postIncidents(t, client, g, "ChaosAfterFull", plan.After)
	w, o, err := g.Settle(t.Context(), plan.Wait, everything)
	if err != nil {
		t.Fatal(err)
	}
	return g.figures("full disk", w, o, start), rep
}

// ReadOnly kills the receiver with deliveries pending, which leaves its
// write-ahead log behind as a crash does, makes the data directory
// read-only and starts the receiver again: the webhook must answer 503
// and, once the directory is writable again, take notifications by
// itself. Everything accepted before and after must be delivered. As
// root, which permissions do not stop, the directory is a read-only bind
// mount of itself; otherwise its mode is taken away.
//
// The deliveries are pending but none is under way at the kill: each
// upstream first answers 429, so the receiver holds every channel back
// and puts its deliveries off until then. (A delivery under way at a kill
// waits for its lease to expire, which the crash scenario measures.)
func ReadOnly(t testing.TB, bin string, plan StorePlan) (Figures, StoreReport) {
	t.Helper()
	start := time.Now()
	dir := filepath.Join(t.TempDir(), "data")
	g := NewRig(t, bin, dir, []string{storeRoute})
	g.Receiver.Start(t)
	client := &http.Client{Timeout: time.Minute}
	for _, kind := range Kinds {
		g.Upstreams.Inject429(kind, storeHold)
	}
	postIncidents(t, client, g, "ChaosBeforeReadOnly", plan.Before)
	awaitHeld(t, g)
	g.Receiver.Kill(t)

	writable := testenv.ReadOnlyDir(t, g.Receiver.DataDir)
	g.Receiver.Start(t)
	rep, refused := refuse(t, client, g, "ChaosWhileReadOnly", "readonly")
	writable()
	rep.Recovered = retry(t, client, g, refused)
	postIncidents(t, client, g, "ChaosAfterReadOnly", plan.After)
	w, o, err := g.Settle(t.Context(), plan.Wait, everything)
	if err != nil {
		t.Fatal(err)
	}
	return g.figures("read-only data directory", w, o, start), rep
}

// ReadOnlyAfterStop is ReadOnly after a clean stop instead of a kill: the
// receiver checkpoints its write-ahead log and deletes it as it stops,
// and SQLite cannot then open the database in the read-only directory at
// all. The receiver must start anyway and answer 503, on the webhook and
// on /-/ready with the reason, log the store's error once however often
// it tries again, and, once the directory is writable, open the store by
// itself and take notifications. Everything accepted before and after
// must be delivered.
func ReadOnlyAfterStop(t testing.TB, bin string, plan StorePlan) (Figures, StoreReport) {
	t.Helper()
	start := time.Now()
	dir := filepath.Join(t.TempDir(), "data")
	g := NewRig(t, bin, dir, []string{storeRoute})
	g.Receiver.Start(t)
	client := &http.Client{Timeout: time.Minute}
	for _, kind := range Kinds {
		g.Upstreams.Inject429(kind, storeHold)
	}
	postIncidents(t, client, g, "ChaosBeforeStop", plan.Before)
	awaitHeld(t, g)
	g.Receiver.Stop(t)
	if _, err := os.Stat(g.Receiver.DB() + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the write-ahead log is still there after a clean stop (%v): the scenario would test a crash", err)
	}

	writable := testenv.ReadOnlyDir(t, g.Receiver.DataDir)
	g.Receiver.StartUnready(t)
	rep, refused := refuse(t, client, g, "ChaosWhileStopped", unavailableWord)
	rep.NotReady = notReady(t, client, g)
	rep.Logged = strings.Count(g.Receiver.Output(), unavailableLog)
	writable()
	rep.Recovered = retry(t, client, g, refused)
	postIncidents(t, client, g, "ChaosAfterStop", plan.After)
	w, o, err := g.Settle(t.Context(), plan.Wait, everything)
	if err != nil {
		t.Fatal(err)
	}
	return g.figures("read-only data directory after a clean stop", w, o, start), rep
}

// What the receiver says while its store cannot be opened: the webhook's
// refusal, and its log line.
const (
	unavailableWord = "store unavailable"
	unavailableLog  = "store unavailable; answering 503 until it opens"
)

// notReady returns the receiver's answer to /-/ready, which must be 503.
func notReady(t testing.TB, client *http.Client, g *Rig) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, g.Receiver.URL("/-/ready"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/-/ready while the store cannot be opened: %s %s, want 503", resp.Status, body)
	}
	return strings.TrimSpace(string(body))
}

// storeHold is the Retry-After that holds the channels back in ReadOnly:
// longer than a worker waits for a channel, so that it puts deliveries
// off rather than keep them.
const storeHold = 10 * time.Second

// awaitHeld waits until every upstream has answered its 429 and the
// receiver has recorded the outcome of every delivery it took: the
// outbox holds pending deliveries and none under a lease.
func awaitHeld(t testing.TB, g *Rig) {
	t.Helper()
	testenv.Eventually(t, recoverWithin, func() error {
		for _, kind := range Kinds {
			if !slices.ContainsFunc(g.Upstreams.Proxies[kind].Exchanges(), func(ex Exchange) bool { return ex.Status == http.StatusTooManyRequests }) {
				return fmt.Errorf("%s has not answered 429 yet", kind)
			}
		}
		o, err := ReadOutbox(t.Context(), g.Receiver.DB(), time.Now())
		switch {
		case err != nil:
			return err
		case o.Pending == 0 || o.Leased > 0:
			return fmt.Errorf("%d deliveries pending, %d of them leased; want some, none leased", o.Pending, o.Leased)
		}
		return nil
	})
}

// postIncidents posts n incidents, one firing alert each, that the
// receiver must take.
func postIncidents(t testing.TB, client *http.Client, g *Rig, name string, n int) {
	t.Helper()
	for i := range n {
		mustPost(t, client, g.Webhook(storeRoute), GroupMessage(name, fmt.Sprintf("job-%02d", i), 1, false))
	}
}

// maxProbes bounds the posts that look for the store's refusal.
const maxProbes = 2000

// refuse posts new incidents until the receiver answers 503, then a few
// more, which it must refuse too, and returns what it answered and the
// first refused notification. Every answer must be 200 or 503, and each
// refusal must give the reason, which contains want.
func refuse(t testing.TB, client *http.Client, g *Rig, name, want string) (StoreReport, *alert.Message) {
	t.Helper()
	var rep StoreReport
	var first *alert.Message
	for i := 0; i < maxProbes && rep.Refused < 3; i++ {
		m := GroupMessage(name, fmt.Sprintf("job-%04d", i), 1, false)
		body, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		code, answer, err := Post(t.Context(), client, g.Webhook(storeRoute), body, nil)
		switch {
		case err != nil:
			t.Fatalf("post %d while the store is in trouble: %v", i, err)
		case code == http.StatusOK:
			rep.Taken++
		case code == http.StatusServiceUnavailable && strings.Contains(string(answer), want):
			rep.Refused++
			rep.Refusal = strings.TrimSpace(string(answer))
			if first == nil {
				first = m
			}
		default:
			t.Fatalf("post %d while the store is in trouble: %d %s, want 200 or 503 saying %q", i, code, answer, want)
		}
	}
	if first == nil {
		t.Fatalf("the receiver took %d posts and refused none while its store was in trouble", rep.Taken)
	}
	g.Receiver.Alive(t)
	return rep, first
}

// recoverWithin bounds how long the receiver may take to write again
// once its disk has recovered.
const recoverWithin = 30 * time.Second

// retry posts m, as Alertmanager retries a refused notification, until
// the receiver takes it, and returns how long that took.
func retry(t testing.TB, client *http.Client, g *Rig, m *alert.Message) time.Duration {
	t.Helper()
	body, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testenv.Eventually(t, recoverWithin, func() error {
		code, answer, err := Post(t.Context(), client, g.Webhook(storeRoute), body, nil)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("after the disk recovered: %d %s %v", code, answer, err)
		}
		return nil
	})
	return time.Since(start)
}

// fill writes path until the disk is full.
func fill(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return fmt.Errorf("filling the disk: %w", err)
		}
	}
}
