package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/notify/slack/slacktest"
)

// ReplicasPlan sizes the replicas scenario: a storm through two clustered
// Alertmanagers into three replicas on one PostgreSQL, and its faults,
// each at its time into the storm.
type ReplicasPlan struct {
	// Alerts, Over, Names, Jobs and TimeScale size the storm as in
	// StormPlan; Wait bounds the deliveries after the last post.
	Alerts      int
	Over        time.Duration
	Names, Jobs int
	TimeScale   float64
	Wait        time.Duration
	// TakeoverAfter is the replicas' storage.takeover_after.
	TakeoverAfter time.Duration
	// KillAt is when replica 1 gets SIGKILL, once it holds leases; it
	// starts again Down later.
	KillAt, Down time.Duration
	// PauseAt is when replica 2 gets SIGSTOP, once it holds leases, and
	// Pause how long until its SIGCONT: longer than TakeoverAfter.
	PauseAt, Pause time.Duration
	// StoreAt is when PostgreSQL restarts; AlertmanagerAt when the first
	// Alertmanager gets SIGKILL.
	StoreAt, AlertmanagerAt time.Duration
	// Paged incidents, one on each route paged-N, are posted at the
	// start; their policy pages Levels levels, one every LevelEvery.
	Paged, Levels int
	LevelEvery    time.Duration
}

// Timeline says when each fault came, in seconds into the storm.
func (r ReplicasReport) Timeline() string {
	at := func(t time.Time) string { return fmt.Sprintf("%.2f s", t.Sub(r.Start).Seconds()) }
	return fmt.Sprintf("%s killed at %s, started again at %s; %s stopped at %s, continued at %s; PostgreSQL restarted from %s to %s; an Alertmanager killed at %s",
		r.Killed, at(r.Kill), at(r.Restart), r.Paused, at(r.Pause), at(r.Resume), at(r.StoreDown), at(r.StoreUp), at(r.Alertmanager))
}

// ReplicasReport is what the replicas scenario finds besides the figures.
type ReplicasReport struct {
	// Start is when the storm began. Kill and Restart are when replica 1
	// was killed and started again, Pause and Resume when replica 2 was
	// stopped and continued; StoreDown and StoreUp when PostgreSQL's
	// restart began and ended; Alertmanager when the first one was
	// killed.
	Start, Kill, Restart, Pause, Resume, StoreDown, StoreUp, Alertmanager time.Time
	// TakeoverAfter is the replicas' storage.takeover_after.
	TakeoverAfter time.Duration
	// Killed and Paused are the faulted replicas' names (the From of
	// their messages).
	Killed, Paused string
	// Takeovers are the failover figures after the kill and the pause.
	Takeovers []Takeover
	// Stalled lists the store's sessions that, just before the stopped
	// replica woke, waited for a lock held by a transaction idle for
	// longer than takeover_after, and that transaction.
	Stalled []string
	// TakeoverLog lists every rise of a replica's takeover counter.
	TakeoverLog string
	// LeasesLost is what the paused replica counted when it woke
	// (klaxon_receiver_leases_lost_total).
	LeasesLost int
	// Pages counts, by paged route and level, the messages that paged
	// the level's user.
	Pages map[string][]int
	// SentBy counts the messages the upstreams accepted, by replica;
	// Balanced the webhook posts the balancer passed to each.
	SentBy   map[string]int
	Balanced []int64
}

// replicaCount is the number of replicas the scenario runs.
const replicaCount = 3

// replicaName names replica i (0-based) in the messages it sends.
func replicaName(i int) string { return fmt.Sprintf("replica-%d", i+1) }

// Replicas runs three klaxon-receiver processes on one private PostgreSQL
// behind a balancer that sends only to ready replicas, and two clustered
// Alertmanagers posting to it, and puts them through a storm with faults:
// replica 1 killed and started again, replica 2 stopped for longer than
// takeover_after, PostgreSQL restarted, the first Alertmanager killed.
// Each replica reaches the fakes through proxies of its own, so that each
// message says who sent it. It waits until every group's final state has
// been accepted, every accepted state delivered and every paged level
// paged, or plan.Wait has passed after the storm.
func Replicas(t testing.TB, bin string, plan ReplicasPlan) (Figures, ReplicasReport) {
	t.Helper()
	begin := time.Now()
	ctx := t.Context()
	rs := startReplicas(t, bin, plan)
	start := time.Now()
	rep := ReplicasReport{Start: start, TakeoverAfter: plan.TakeoverAfter, Killed: replicaName(0), Paused: replicaName(1)}

	watchCtx, stopWatch := context.WithCancel(ctx)
	watch := watchTakeovers(watchCtx, rs.urls(), 200*time.Millisecond)
	defer func() { stopWatch(); watch.Wait() }()

	for i := range plan.Paged {
		mustPost(t, &http.Client{Timeout: time.Minute}, rs.rig.Webhook(pagedRoute(i)), GroupMessage(fmt.Sprintf("ChaosPaged%02d", i), "job-00", 1, false))
	}
	storm := rs.storm(ctx, plan, start)
	rs.faults(t, plan, start, &rep)
	want, err := storm.wait()
	if err != nil {
		t.Fatal(err)
	}
	held, err := rs.ams[1].Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != plan.Alerts {
		t.Errorf("the Alertmanager left holds %d alerts, want the %d posted", len(held), plan.Alerts)
	}
	w, o, err := rs.rig.Settle(ctx, plan.Wait, func(w Webhooks) error {
		return errors.Join(finalStates(w, want), rs.pagesDone(plan))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := finalStates(w, want); err != nil {
		t.Errorf("the receivers never accepted every group's final state: %v", err)
	}
	stopWatch()
	watch.Wait()
	rep.Takeovers = []Takeover{
		watch.after("SIGKILL of "+rep.Killed, 0, rep.Kill, rep.Pause),
		watch.after(fmt.Sprintf("SIGSTOP of %s for %s", rep.Paused, plan.Pause), 1, rep.Pause, rep.StoreDown),
	}
	rep.Takeovers[0].Leased, rep.Takeovers[1].Leased = rs.leased[0], rs.leased[1]
	rep.TakeoverLog = watch.log(start)
	rep.Pages = rs.pages(plan)
	rep.SentBy = sentBy(rs.rig.Upstreams)
	rep.Balanced = rs.balancer.Sent()
	if lost, err := metricSum(ctx, http.DefaultClient, rs.replicas[1].URL(""), lostMetric); err == nil {
		rep.LeasesLost = int(lost)
	}

	f := Figures{
		Scenario: "replicas", Alerts: plan.Alerts, Posts: w.Posts, Refused: w.Refused, Outcome: o,
		Requests: rs.rig.Upstreams.Requests(), RateLimited: rs.rig.Upstreams.RateLimited(),
		Took: time.Since(begin), Takeovers: rep.Takeovers,
	}
	for _, r := range rs.replicas {
		f.PeakRSS = max(f.PeakRSS, r.PeakRSS())
	}
	return f, rep
}

// pagedRoute is the route of paged incident i.
func pagedRoute(i int) string { return fmt.Sprintf("paged-%d", i) }

// levelUser is the Slack ID of the user level l (1-based) pages.
func levelUser(l int) string { return fmt.Sprintf("U0LEVEL%02d", l) }

// replicaSet is the scenario's running system.
type replicaSet struct {
	pg       *testenv.PrivatePostgres
	replicas []*Receiver
	balancer *Balancer
	ams      []*testenv.Alertmanager
	// rig holds the upstreams and the front proxy; it has no Receiver.
	rig *Rig
	// pager is the Slack of the paged routes, hooks their webhooks.
	pager *slacktest.Server
	hooks []string
	// leased is what the killed and the paused replica held.
	leased [2]int
	// amDead is set once the first Alertmanager is killed.
	amDead atomic.Bool
}

func startReplicas(t testing.TB, bin string, plan ReplicasPlan) *replicaSet {
	t.Helper()
	rs := &replicaSet{pg: testenv.StartPrivatePostgres(t)}
	up, err := NewUpstreams("critical", "warning")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	rs.pager = slacktest.NewServer()
	t.Cleanup(rs.pager.Close)
	for range plan.Paged {
		rs.hooks = append(rs.hooks, rs.pager.NewWebhook())
	}
	var urls []string
	for i := range replicaCount {
		via := map[string]string{}
		for _, kind := range Kinds {
			p, err := NewProxy(up.Proxies[kind].URL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			p.From(replicaName(i))
			via[kind] = p.URL
		}
		r := NewReceiver(t, bin, t.TempDir(), "", func(_, _ string) string {
			return rs.config(up, via, plan)
		})
		rs.replicas = append(rs.replicas, r)
		urls = append(urls, r.URL(""))
	}
	// The replicas migrate the schema one at a time, under a lock.
	for _, r := range rs.replicas {
		r.Start(t)
	}
	rs.balancer, err = NewBalancer(urls, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.balancer.Close)
	front, err := NewProxy(rs.balancer.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(front.Close)
	rs.rig = &Rig{Upstreams: up, Front: front}
	rs.ams = startClusteredAlertmanagers(t, front.URL, plan.TimeScale)
	return rs
}

// startClusteredAlertmanagers runs two Alertmanagers clustered on
// loopback, both posting to webhookBase, and waits for their cluster.
func startClusteredAlertmanagers(t testing.TB, webhookBase string, scale float64) []*testenv.Alertmanager {
	t.Helper()
	addrs := []string{testenv.FreeAddr(t), testenv.FreeAddr(t)}
	var ams []*testenv.Alertmanager
	for i, addr := range addrs {
		ams = append(ams, testenv.StartAlertmanager(t, testenv.AlertmanagerOptions{
			WebhookBase: webhookBase, TimeScale: scale,
			Cluster: &testenv.ClusterOptions{Addr: addr, Peers: []string{addrs[1-i]}, PeerTimeout: time.Second},
		}))
	}
	testenv.WaitCluster(t, ams...)
	return ams
}

// ackSecret is the replicas' shared key for acknowledgement links.
const ackSecret = "chaos-replicas-ack-secret-0123456789abcdef"

// config is a replica's config: the store on the private PostgreSQL,
// critical and warning delivering to the fakes through the proxies via,
// heartbeat quiet, and the paged routes with their Slack and policy.
func (rs *replicaSet) config(up *Upstreams, via map[string]string, plan ReplicasPlan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  external_url: %s\n  ack_secret: %s\n", externalURL, ackSecret)
	fmt.Fprintf(&b, "storage:\n  postgres:\n    dsn: %q\n  takeover_after: %s\n", rs.pg.DSN, plan.TakeoverAfter)
	b.WriteString("channels:\n")
	b.WriteString(up.ChannelsYAML(via))
	for i, hook := range rs.hooks {
		fmt.Fprintf(&b, "  - name: page-%d\n    slack:\n      webhook_url: %s\n", i, hook)
	}
	b.WriteString("routes:\n")
	b.WriteString(up.RoutesYAML("heartbeat"))
	for i := range rs.hooks {
		fmt.Fprintf(&b, "  - name: %s\n    channels: [page-%d]\n    escalation_policy: chaos\n", pagedRoute(i), i)
	}
	b.WriteString("users:\n")
	for l := 1; l <= plan.Levels; l++ {
		fmt.Fprintf(&b, "  - name: level-%d\n    slack_id: %s\n", l, levelUser(l))
	}
	b.WriteString("escalation_policies:\n  - name: chaos\n    levels:\n")
	for l := 1; l <= plan.Levels; l++ {
		fmt.Fprintf(&b, "      - delay: %s\n        targets: [{user: level-%d}]\n", time.Duration(l-1)*plan.LevelEvery, l)
	}
	return b.String()
}

// externalURL is the address the replicas' links name: any address in
// front of them would do; the links are not followed.
const externalURL = "http://klaxon.chaos.example/"

func (rs *replicaSet) urls() []string {
	var out []string
	for _, r := range rs.replicas {
		out = append(out, r.URL(""))
	}
	return out
}

// stormRun is a storm posting in the background.
type stormRun struct {
	done chan struct{}
	want map[string]int
	err  error
}

func (s *stormRun) wait() (map[string]int, error) {
	<-s.done
	return s.want, s.err
}

// storm posts the plan's alerts to every live Alertmanager, as
// Prometheus posts to all of them, a batch every tick.
func (rs *replicaSet) storm(ctx context.Context, plan ReplicasPlan, start time.Time) *stormRun {
	s := &stormRun{done: make(chan struct{}), want: map[string]int{}}
	go func() {
		defer close(s.done)
		groups := plan.Names * plan.Jobs
		ticks := max(int(plan.Over/stormTick), 1)
		for tick := range ticks {
			at := start.Add(time.Duration(tick) * stormTick)
			pace(ctx, at)
			from, to := plan.Alerts*tick/ticks, plan.Alerts*(tick+1)/ticks
			batch := make([]testenv.Alert, 0, to-from)
			for i := from; i < to; i++ {
				a := stormAlert(i, groups, plan.Jobs, at)
				batch = append(batch, a)
				s.want[GroupSignature(map[string]string{"alertname": a.Labels["alertname"], "job": a.Labels["job"]})]++
			}
			for i, am := range rs.ams {
				if i == 0 && rs.amDead.Load() {
					continue
				}
				if err := am.PostAlerts(ctx, batch...); err != nil && !(i == 0 && rs.amDead.Load()) {
					s.err = err
					return
				}
			}
		}
	}()
	return s
}

// faults stages the plan's faults in turn, each at its time.
func (rs *replicaSet) faults(t testing.TB, plan ReplicasPlan, start time.Time, rep *ReplicasReport) {
	t.Helper()
	ctx := t.Context()
	pace(ctx, start.Add(plan.KillAt))
	rs.leased[0] = rs.awaitLeases(ctx, 0, plan.Over)
	rs.replicas[0].Kill(t)
	rep.Kill = time.Now()

	pace(ctx, rep.Kill.Add(plan.Down))
	rep.Restart = time.Now()
	rs.replicas[0].Start(t)

	pace(ctx, start.Add(plan.PauseAt))
	rs.leased[1] = rs.awaitLeases(ctx, 1, plan.Over)
	rs.replicas[1].Pause(t)
	rep.Pause = time.Now()
	// Just before the replica wakes, no replica may be waiting for a
	// lock of a transaction it left open.
	pace(ctx, rep.Pause.Add(plan.Pause-time.Second/2))
	stalled, err := rs.stalledClaims(ctx, plan.TakeoverAfter)
	if err != nil {
		t.Errorf("reading the store's lock waits: %v", err)
	}
	rep.Stalled = stalled
	pace(ctx, rep.Pause.Add(plan.Pause))
	rs.replicas[1].Resume(t)
	rep.Resume = time.Now()

	pace(ctx, start.Add(plan.StoreAt))
	rep.StoreDown = time.Now()
	rs.pg.Restart(t)
	rep.StoreUp = time.Now()

	pace(ctx, start.Add(plan.AlertmanagerAt))
	rs.amDead.Store(true)
	rep.Alertmanager = time.Now()
	if err := rs.ams[0].Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-rs.ams[0].Exited()
}

// awaitLeases waits until replica i holds leases, or for at most
// within, and returns what it held last.
func (rs *replicaSet) awaitLeases(ctx context.Context, i int, within time.Duration) int {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for {
		n, err := metricSum(ctx, client, rs.replicas[i].URL(""), leasesMetric)
		if (err == nil && n > 0) || time.Now().After(deadline) || ctx.Err() != nil {
			return int(n)
		}
		pace(ctx, time.Now().Add(20*time.Millisecond))
	}
}

// pages counts, by paged route and level (index 0 for level 1), the
// messages that mentioned the level's user.
func (rs *replicaSet) pages(plan ReplicasPlan) map[string][]int {
	out := map[string][]int{}
	byHook := map[string]string{}
	for i, hook := range rs.hooks {
		byHook[strings.TrimPrefix(hook, rs.pager.URL()+"/services/")] = pagedRoute(i)
		out[pagedRoute(i)] = make([]int, plan.Levels)
	}
	for _, req := range rs.pager.Received() {
		route, ok := byHook[req.Webhook]
		if !ok {
			continue
		}
		for l := 1; l <= plan.Levels; l++ {
			if slices.Contains(req.Mentions, "<@"+levelUser(l)+">") {
				out[route][l-1]++
			}
		}
	}
	return out
}

// pagesDone says which paged levels have not been paged yet.
func (rs *replicaSet) pagesDone(plan ReplicasPlan) error {
	var missing []string
	for route, levels := range rs.pages(plan) {
		for l, n := range levels {
			if n == 0 {
				missing = append(missing, fmt.Sprintf("%s level %d", route, l+1))
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not paged yet: %s", strings.Join(missing, ", "))
	}
	return nil
}

// sentBy counts the messages the upstreams accepted, by the replica that
// sent them.
func sentBy(up *Upstreams) map[string]int {
	out := map[string]int{}
	msgs, err := up.Messages()
	if err != nil {
		return out
	}
	for _, m := range msgs {
		out[m.From]++
	}
	return out
}

// stalledClaims lists the store's sessions waiting for a lock held by a
// session idle in a transaction for longer than within: a replica
// stopped in the middle of a transaction keeps its connection, so
// PostgreSQL keeps the transaction's locks, and the replicas that wait
// behind them are held up by the hung one instead of taking over its
// work.
func (rs *replicaSet) stalledClaims(ctx context.Context, within time.Duration) ([]string, error) {
	conn, err := pgx.Connect(ctx, rs.pg.DSN)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT w.pid, extract(epoch FROM now() - w.state_change)::float8, left(w.query, 60),
			b.pid, b.state, extract(epoch FROM now() - b.state_change)::float8, left(b.query, 60)
		FROM pg_stat_activity AS w
		JOIN pg_stat_activity AS b ON b.pid = ANY (pg_blocking_pids(w.pid))
		WHERE w.wait_event_type = 'Lock' AND b.state = 'idle in transaction'
			AND now() - b.state_change > make_interval(secs => $1)
		ORDER BY w.pid, b.pid`, within.Seconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var wpid, bpid int
		var wage, bage float64
		var wquery, bstate, bquery string
		if err := rows.Scan(&wpid, &wage, &wquery, &bpid, &bstate, &bage, &bquery); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("session %d waiting %.1f s in %q, blocked by session %d %s for %.1f s after %q",
			wpid, wage, oneLine(wquery), bpid, bstate, bage, oneLine(bquery)))
	}
	return out, rows.Err()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
