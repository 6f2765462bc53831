package escalation

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fallbackResolver is a fakeResolver whose schedules may have fallbacks.
type fallbackResolver struct {
	fakeResolver
	fallbacks map[string]Target
}

func (r fallbackResolver) Fallback(schedule string) (Target, bool) {
	t, ok := r.fallbacks[schedule]
	return t, ok
}

// TestFallbackPagedInGap checks that a schedule with nobody on call at the
// page's due time pages its own fallback, else the policy's, and that
// with no fallback at all it pages nobody, as before.
func TestFallbackPagedInGap(t *testing.T) {
	// primary has nobody on call until +0:20, then bob.
	rotas := fakeResolver{"primary": {handoff: t0.Add(20 * time.Minute), after: "bob"}, "empty": {}}
	policyFallback := &Target{User: "manager"}
	for _, tc := range []struct {
		name      string
		r         Resolver
		fallback  *Target
		users     []string
		redirects []Redirect
		uncovered []string
	}{
		{name: "no fallback", r: rotas, uncovered: []string{"primary"}},
		{name: "policy's", r: rotas, fallback: policyFallback, users: []string{"manager"},
			redirects: []Redirect{{Schedule: "primary", To: Target{User: "manager"}}}, uncovered: []string{"primary"}},
		{name: "schedule's wins", r: fallbackResolver{rotas, map[string]Target{"primary": {User: "senior"}}}, fallback: policyFallback,
			users: []string{"senior"}, redirects: []Redirect{{Schedule: "primary", To: Target{User: "senior"}}}, uncovered: []string{"primary"}},
		{name: "fallback schedule one hop", r: fallbackResolver{rotas, map[string]Target{"primary": {Schedule: "empty"}, "empty": {Schedule: "primary"}}},
			redirects: []Redirect{{Schedule: "primary", To: Target{Schedule: "empty"}}}, uncovered: []string{"primary", "empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Policy{Name: "rota", Fallback: tc.fallback, Levels: []Level{{Targets: []Target{{Schedule: "primary"}}}}}
			_, pages := Start(p, t0, nil)
			if len(pages) != 1 {
				t.Fatalf("got %d pages, want 1", len(pages))
			}
			page := pages[0]
			page.AddRecipients(tc.r, directory)
			if diff := cmp.Diff(tc.users, page.Users); diff != "" {
				t.Errorf("users (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.redirects, page.Redirects); diff != "" {
				t.Errorf("redirects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.uncovered, page.Uncovered); diff != "" {
				t.Errorf("uncovered (-want +got):\n%s", diff)
			}
			// Once bob is on call, the schedule pages him and no fallback.
			page.Due = t0.Add(30 * time.Minute)
			page.AddRecipients(tc.r, directory)
			if diff := cmp.Diff([]string{"bob"}, page.Users); diff != "" || page.Redirects != nil {
				t.Errorf("covered: users (-want +got):\n%s redirects %v", diff, page.Redirects)
			}
		})
	}
}

// TestSimulateShowsRedirect checks that the simulated timeline says whom a
// gap was redirected to.
func TestSimulateShowsRedirect(t *testing.T) {
	p := &Policy{Name: "rota", Fallback: &Target{User: "manager"}, Levels: []Level{{Targets: []Target{{Schedule: "empty"}}}}}
	pages := Simulate(p, fakeResolver{"empty": {}}, directory, t0, nil, t0)
	got := Timeline(t0, pages)
	want := "nobody on call for empty; paging user manager instead"
	if !strings.Contains(got, want) || !strings.Contains(got, "users manager") {
		t.Errorf("timeline:\n%s\nwant it to contain %q and the user paged", got, want)
	}
}
