package chaos_test

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klaxonhq/klaxon/internal/chaos"
	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
)

var chaosMD = flag.String("chaosmd", "", "also write the scenarios' figures as a Markdown table to this file")

// full is the switch for the full-size scenarios: KLAXON_CHAOS=full, as
// make chaos sets it. Without it the scenarios are the short versions
// make test runs.
var full = os.Getenv("KLAXON_CHAOS") == "full"

// results collects every scenario's figures for -chaosmd.
var results struct {
	sync.Mutex
	figures []chaos.Figures
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if *chaosMD != "" && len(results.figures) > 0 {
		if err := os.WriteFile(*chaosMD, []byte(chaos.Markdown(results.figures)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// record logs a scenario's figures and keeps them for -chaosmd.
func record(t *testing.T, f chaos.Figures) {
	t.Helper()
	t.Logf("figures:\n%s", chaos.Markdown([]chaos.Figures{f}))
	t.Logf("worst delay by upstream: %v; requests the upstreams accepted: %d", f.Worst, f.Requests)
	results.Lock()
	defer results.Unlock()
	results.figures = append(results.figures, f)
}

// size picks the short or the full version of a scenario's figure.
func size[T any](short, long T) T {
	if full {
		return long
	}
	return short
}

// scenario is a subtest of TestChaos.
type scenario struct {
	name string
	run  func(t *testing.T, bin string)
}

// scenarios are TestChaos's subtests; the store's, which need Linux's
// mounts, add themselves on Linux.
var scenarios = []scenario{
	{"bad input", testBadInput},
	{"storm", testStorm},
	{"outage", testOutage},
	{"crash", testCrash},
}

// TestChaos runs the storm and fault scenarios against the built
// klaxon-receiver, each with its own fake upstreams and store. The short
// versions run in parallel, the full ones one after the other so that
// their figures are their own.
func TestChaos(t *testing.T) {
	bin := testenv.Binary(t, "klaxon-receiver")
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if !full {
				t.Parallel()
			}
			sc.run(t, bin)
		})
	}
}

// peakBound is a generous bound on the receiver's peak memory in a
// storm: several times what it takes, low enough to catch a receiver
// that holds the storm in memory.
const peakBound = 512 << 20

func testStorm(t *testing.T, bin string) {
	f, _ := chaos.Storm(t, bin, "storm", size(
		chaos.StormPlan{Alerts: 1000, Over: 10 * time.Second, Names: 4, Jobs: 4, TimeScale: 1.0 / 60, Wait: 2 * time.Minute},
		chaos.StormPlan{Alerts: 10000, Over: time.Minute, Names: 5, Jobs: 8, TimeScale: 1.0 / 30, Wait: 8 * time.Minute},
	))
	record(t, f)
	checkDelivered(t, f)
	if n := f.RateLimitedTotal(); n > 0 {
		t.Errorf("the fakes answered 429 for their rate limits %d times (%v): the receiver exceeded them", n, f.RateLimited)
	}
	for kind, n := range f.Duplicates {
		if n > 0 {
			t.Errorf("%s got %d duplicate messages in a storm without faults", kind, n)
		}
	}
	if f.PeakRSS > peakBound {
		t.Errorf("the receiver's peak RSS was %d MiB, above the bound of %d MiB", f.PeakRSS>>20, peakBound>>20)
	}
}

func testOutage(t *testing.T, bin string) {
	retryAfter := size(3*time.Second, 10*time.Second)
	f, rep := chaos.Outage(t, bin, size(
		chaos.OutagePlan{Incidents: 4, Steps: 3, Outage: 6 * time.Second, RetryAfter: retryAfter, Wait: time.Minute},
		chaos.OutagePlan{Incidents: 8, Steps: 3, Outage: 2 * time.Minute, RetryAfter: retryAfter, Wait: 8 * time.Minute},
	))
	record(t, f)
	t.Logf("gaps after a 429 with Retry-After %s: %v; requests during the outage: %v", retryAfter, rep.RetryAfterGap, rep.Tried)
	checkDelivered(t, f)
	for _, kind := range chaos.Kinds {
		if gap, ok := rep.RetryAfterGap[kind]; !ok || gap < retryAfter {
			t.Errorf("%s: next request %s after a 429 with Retry-After %s", kind, gap, retryAfter)
		}
	}
	for _, kind := range []string{chaos.PagerDuty, chaos.Slack} {
		if rep.Tried[kind] == 0 {
			t.Errorf("%s answering 500 got no request during the outage: the outage was not tested", kind)
		}
	}
	for kind, n := range f.Duplicates {
		if n > 0 {
			t.Errorf("%s got %d duplicate messages", kind, n)
		}
	}
}

func testCrash(t *testing.T, bin string) {
	f, kill := chaos.Storm(t, bin, "crash", size(
		chaos.StormPlan{Alerts: 1000, Over: 10 * time.Second, Names: 4, Jobs: 4, TimeScale: 1.0 / 60, Wait: 4 * time.Minute,
			KillAt: 4 * time.Second, Down: 2 * time.Second},
		chaos.StormPlan{Alerts: 10000, Over: time.Minute, Names: 5, Jobs: 8, TimeScale: 1.0 / 30, Wait: 8 * time.Minute,
			KillAt: 30 * time.Second, Down: 5 * time.Second},
	))
	record(t, f)
	t.Logf("at the kill, %d deliveries were pending, %d of them leased; duplicates: %v", kill.Pending, kill.Leased, f.Duplicates)
	if kill.Pending == 0 {
		t.Error("the kill found no delivery pending: the crash tested nothing")
	}
	checkDelivered(t, f)
	// Only an attempt under way at the kill, whose outcome the dead
	// process could not record, may be sent again (a digest with every
	// state it carries).
	for _, sent := range f.Firsts {
		if sent.After(kill.At) {
			t.Errorf("a state arrived twice whose first copy was sent at %s, after the kill at %s", sent.Format(time.StampMilli), kill.At.Format(time.StampMilli))
		}
	}
}

// checkDelivered fails t unless every accepted notification reached
// every channel in order.
func checkDelivered(t *testing.T, f chaos.Figures) {
	t.Helper()
	for _, p := range f.Problems() {
		t.Error(p)
	}
}

// testBadInput posts the corpus of malformed, oversized, truncated and
// hostile requests to a running receiver: each gets a 4xx with a JSON
// error saying what is wrong, none a 5xx, a hang or a crash. The
// tolerated requests are odd but readable, and taken: JSON with invalid
// UTF-8 inside a string (decoding replaces it, as Alertmanager's encoder
// would have), and JSON sent as text/plain (curl's -d sends a form's
// type, and the README posts with curl). The receiver still takes a
// good notification afterwards.
func testBadInput(t *testing.T, bin string) {
	g := chaos.NewRig(t, bin, "", nil, "sink")
	g.Receiver.Start(t)
	url := g.Receiver.URL("/webhook/sink")
	corpus := readCorpus(t, "corpus")
	corpus = append(corpus, chaos.GeneratedCorpus()...)
	tolerated := readCorpus(t, "tolerated")
	// The timeout is what a hang would run into.
	client := &http.Client{Timeout: 30 * time.Second}
	bad := chaos.PostCorpus(t.Context(), client, url, corpus)
	for _, a := range bad {
		switch {
		case a.Err != nil:
			t.Errorf("%s: no answer: %v", a.Name, a.Err)
		case a.Status < 400 || a.Status > 499:
			t.Errorf("%s: %d %s, want a 4xx", a.Name, a.Status, a.Error)
		case !a.JSON || a.Error == "":
			t.Errorf("%s: %d without a JSON error message", a.Name, a.Status)
		}
	}
	odd := chaos.PostCorpus(t.Context(), client, url, tolerated)
	for _, a := range odd {
		if a.Err != nil || a.Status != http.StatusOK {
			t.Errorf("tolerated %s: %d %s %v, want 200", a.Name, a.Status, a.Error, a.Err)
		}
	}
	g.Receiver.Alive(t)
	if out := g.Receiver.Output(); strings.Contains(out, "panic") {
		t.Errorf("the receiver panicked:\n%s", out)
	}
	body, err := chaos.GroupMessage("ChaosAfterBadInput", "job-00", 1, false).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if code, answer, err := chaos.Post(t.Context(), client, url, body, nil); err != nil || code != http.StatusOK {
		t.Errorf("a good notification after the corpus: %d %s %v, want 200", code, answer, err)
	}
	testkit.Golden(t, filepath.Join("testdata", "bad-input.golden"), chaos.Golden(bad)+"\ntolerated:\n"+chaos.Golden(odd))
}

func readCorpus(t *testing.T, dir string) []chaos.Entry {
	t.Helper()
	entries, err := chaos.ReadCorpus(filepath.Join("testdata", dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatalf("testdata/%s holds no entries", dir)
	}
	return entries
}
