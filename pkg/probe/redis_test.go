package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/redis/go-redis/v9"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/internal/testkit"
	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

func TestRedisConfigGood(t *testing.T) {
	const in = `
probes:
  - name: jobs
    redis:
      address: cache.internal:6380
      username: klaxon
      password_file: redis.pass
      db: 2
      tls:
        ca_file: ca.pem
        server_name: cache
      queues:
        - key: mail
        - key: jobs:delayed
          name: delayed
          score: unix_milliseconds
        - bullmq: emails
        - bullmq: reports
          prefix: app
          name: nightly-reports
`
	path := filepath.Join(t.TempDir(), "exporter.yml")
	redisWriteFile(t, path, in)
	c, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	want := &RedisConfig{
		Address:      "cache.internal:6380",
		Username:     "klaxon",
		PasswordFile: filepath.Join(dir, "redis.pass"),
		DB:           2,
		TLS:          &RedisTLSConfig{CAFile: filepath.Join(dir, "ca.pem"), ServerName: "cache"},
		Queues: []RedisQueue{
			{Key: "mail", Name: "mail"},
			{Key: "jobs:delayed", Name: "delayed", Score: RedisScoreMilliseconds},
			{BullMQ: "emails", Prefix: "bull", Name: "emails"},
			{BullMQ: "reports", Prefix: "app", Name: "nightly-reports"},
		},
	}
	if diff := cmp.Diff(want, c.Probes[0].Redis); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestRedisConfigBad(t *testing.T) {
	for _, tc := range []struct {
		name, redis, want string
	}{
		{"no address", `db: 1`,
			"redis.yml:4: redis address is required (host:port)"},
		{"address without port", `address: cache`,
			"redis.yml:4: redis address must be host:port: address cache: missing port in address"},
		{"password and file", "address: a:1\n      password: x\n      password_file: f",
			"redis.yml:4: at most one of password and password_file may be set"},
		{"negative db", "address: a:1\n      db: -1",
			"redis.yml:4: redis db must be 0 or more, not -1"},
		{"unknown key", "address: a:1\n      pasword: x",
			`redis.yml:5: unknown key "pasword" (known keys: address, db, password, password_file, queues, tls, username)`},
		{"unknown tls key", "address: a:1\n      tls:\n        ca: x",
			`redis.yml:6: unknown key "ca" (known keys: ca_file, insecure_skip_verify, server_name)`},
		{"queue without key", "address: a:1\n      queues:\n        - name: q",
			"redis.yml:6: a queue needs exactly one of key and bullmq"},
		{"queue with key and bullmq", "address: a:1\n      queues:\n        - key: k\n          bullmq: b",
			"redis.yml:6: a queue needs exactly one of key and bullmq"},
		{"score on bullmq", "address: a:1\n      queues:\n        - bullmq: b\n          score: unix_seconds",
			`redis.yml:6: queue "b": score is only for key queues`},
		{"prefix on key", "address: a:1\n      queues:\n        - key: k\n          prefix: bull",
			`redis.yml:6: queue "k": prefix is only for bullmq queues`},
		{"bad score", "address: a:1\n      queues:\n        - key: k\n          score: seconds",
			`redis.yml:6: queue "k": score must be unix_seconds or unix_milliseconds, not "seconds"`},
		{"unknown queue key", "address: a:1\n      queues:\n        - key: k\n          type: list",
			`redis.yml:7: unknown key "type" (known keys: bullmq, key, name, prefix, score)`},
		{"same name twice", "address: a:1\n      queues:\n        - key: a\n        - bullmq: b\n          name: a",
			`redis.yml:7: queue name "a" is used twice`},
		{"key equals bullmq name", "address: a:1\n      queues:\n        - key: mail\n        - bullmq: mail",
			`redis.yml:7: queue name "mail" is used twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := "probes:\n  - name: jobs\n    redis:\n      " + tc.redis + "\n"
			err := yamlconf.Decode("redis.yml", []byte(in), &Config{})
			if err == nil {
				t.Fatalf("no error for\n%s", in)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRedisCAFileMissing(t *testing.T) {
	c := redisConfig(t, "address: 127.0.0.1:6379\n      tls:\n        ca_file: /nonexistent/ca.pem")
	_, err := c.Collectors(slog.New(slog.DiscardHandler))
	want := `redis probe "jobs": reading tls ca_file: open /nonexistent/ca.pem: no such file or directory`
	if err == nil || err.Error() != want {
		t.Errorf("got error %v, want %s", err, want)
	}
}

func TestRedisServerGauges(t *testing.T) {
	addr := testenv.RedisAddr(t)
	client := redisTestClient(t, addr)
	got := redisScrape(t, redisConfig(t, "address: "+addr))
	if got.err != nil {
		t.Fatal(got.err)
	}
	if v := got.series["klaxon_probe_success"]; v != 1 {
		t.Errorf("klaxon_probe_success = %v, want 1", v)
	}
	if v := got.series["klaxon_redis_connected_clients"]; v < 1 {
		t.Errorf("klaxon_redis_connected_clients = %v, want at least 1 (the probe itself)", v)
	}
	if v := got.series["klaxon_redis_memory_used_bytes"]; v <= 0 {
		t.Errorf("klaxon_redis_memory_used_bytes = %v, want more than 0", v)
	}
	maxmemory, err := client.ConfigGet(context.Background(), "maxmemory").Result()
	if err != nil {
		t.Fatal(err)
	}
	want, err := strconv.ParseFloat(maxmemory["maxmemory"], 64)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.series["klaxon_redis_memory_max_bytes"]; v != want {
		t.Errorf("klaxon_redis_memory_max_bytes = %v, want %v (CONFIG GET maxmemory)", v, want)
	}
	ping, ok := got.series["klaxon_redis_ping_duration_seconds"]
	if !ok || ping < 0 || ping > got.series["klaxon_probe_duration_seconds"] {
		t.Errorf("klaxon_redis_ping_duration_seconds = %v (present %v), want between 0 and the probe's duration %v",
			ping, ok, got.series["klaxon_probe_duration_seconds"])
	}
	if got.logs != "" {
		t.Errorf("unexpected logs:\n%s", got.logs)
	}
}

func TestRedisQueues(t *testing.T) {
	addr := testenv.RedisAddr(t)
	client := redisTestClient(t, addr)
	prefix := redisKeyPrefix(t, client)
	ctx := context.Background()
	now := time.Now()
	redisMust(t, client.RPush(ctx, prefix+"mail", "a", "b", "c").Err())
	redisMust(t, client.ZAdd(ctx, prefix+"retry",
		redis.Z{Score: float64(now.Add(-90 * time.Second).Unix()), Member: "old"},
		redis.Z{Score: float64(now.Add(-30 * time.Second).Unix()), Member: "new"}).Err())
	redisMust(t, client.ZAdd(ctx, prefix+"retry-ms",
		redis.Z{Score: float64(now.Add(-120 * time.Second).UnixMilli()), Member: "old"},
		redis.Z{Score: float64(now.Add(-10 * time.Second).UnixMilli()), Member: "new"}).Err())
	redisMust(t, client.ZAdd(ctx, prefix+"delayed",
		redis.Z{Score: float64(now.Add(time.Hour).Unix()), Member: "later"}).Err())
	redisXAdd(t, client, prefix+"events", now.Add(-200*time.Second))
	redisXAdd(t, client, prefix+"events", now.Add(-100*time.Second))
	drained := redisXAdd(t, client, prefix+"drained", now.Add(-300*time.Second))
	redisMust(t, client.XDel(ctx, prefix+"drained", drained).Err())
	redisMust(t, client.Set(ctx, prefix+"lock", "held", 0).Err())

	got := redisScrape(t, redisConfig(t, "address: "+addr+`
      queues:
        - {key: `+prefix+`mail, name: mail}
        - {key: `+prefix+`retry, name: retry, score: unix_seconds}
        - {key: `+prefix+`retry-ms, name: retry-ms, score: unix_milliseconds}
        - {key: `+prefix+`delayed, name: delayed}
        - {key: `+prefix+`events, name: events}
        - {key: `+prefix+`drained, name: drained}
        - {key: `+prefix+`missing, name: missing}
        - {key: `+prefix+`missing-zset, name: missing-zset, score: unix_seconds}
        - {key: `+prefix+`lock, name: lock}`))
	if got.err != nil {
		t.Fatal(got.err)
	}
	if v := got.series["klaxon_probe_success"]; v != 1 {
		t.Errorf("klaxon_probe_success = %v, want 1: a bad queue does not make Redis unhealthy", v)
	}
	testkit.Golden(t, "testdata/redis-queues.golden", got.text("klaxon_queue_depth"))
	redisCheckAges(t, got, map[string]float64{
		"retry": 90, "retry-ms": 120, "events": 200, "drained": 0, "missing-zset": 0,
	})
	wantLog := fmt.Sprintf("key %slock is a string; a queue must be a list, zset or stream", prefix)
	if !strings.Contains(got.logs, wantLog) || !strings.Contains(got.logs, "queue=lock") {
		t.Errorf("logs do not name queue lock and say %q:\n%s", wantLog, got.logs)
	}
}

func TestRedisBullMQ(t *testing.T) {
	addr := testenv.RedisAddr(t)
	client := redisTestClient(t, addr)
	prefix := strings.TrimSuffix(redisKeyPrefix(t, client), ":")
	now := time.Now()
	// emails: three jobs wait (3 is the oldest, at the right end), one is
	// prioritized, two are active, two delayed and one failed.
	redisBullMQJobs(t, client, prefix+":emails:wait", map[string]time.Time{
		"3": now.Add(-300 * time.Second), "4": now.Add(-200 * time.Second), "5": now.Add(-100 * time.Second),
	}, "3", "4", "5")
	redisBullMQJobs(t, client, prefix+":emails:active", map[string]time.Time{
		"1": now.Add(-400 * time.Second), "2": now.Add(-350 * time.Second),
	}, "1", "2")
	redisBullMQZSet(t, client, prefix+":emails:prioritized", "6")
	redisBullMQZSet(t, client, prefix+":emails:delayed", "7", "8")
	redisBullMQZSet(t, client, prefix+":emails:failed", "9")
	// reports is paused: its waiting jobs are in the paused list.
	redisBullMQJobs(t, client, prefix+":reports:paused", map[string]time.Time{
		"1": now.Add(-150 * time.Second), "2": now.Add(-50 * time.Second),
	}, "1", "2")
	// urgent has only prioritized jobs, whose age is not known.
	redisBullMQZSet(t, client, prefix+":urgent:prioritized", "1")

	got := redisScrape(t, redisConfig(t, "address: "+addr+`
      queues:
        - {bullmq: emails, prefix: "`+prefix+`"}
        - {bullmq: reports, prefix: "`+prefix+`"}
        - {bullmq: urgent, prefix: "`+prefix+`"}
        - {bullmq: idle, prefix: "`+prefix+`"}`))
	if got.err != nil {
		t.Fatal(got.err)
	}
	testkit.Golden(t, "testdata/redis-bullmq.golden", got.text("klaxon_queue_depth"))
	redisCheckAges(t, got, map[string]float64{"emails": 300, "reports": 150, "idle": 0})
	if got.logs != "" {
		t.Errorf("unexpected logs:\n%s", got.logs)
	}
}

func TestRedisBullMQJobWithoutTimestamp(t *testing.T) {
	addr := testenv.RedisAddr(t)
	client := redisTestClient(t, addr)
	prefix := strings.TrimSuffix(redisKeyPrefix(t, client), ":")
	redisMust(t, client.LPush(context.Background(), prefix+":emails:wait", "1").Err())

	got := redisScrape(t, redisConfig(t, "address: "+addr+`
      queues:
        - {bullmq: emails, prefix: "`+prefix+`"}`))
	if got.err != nil {
		t.Fatal(got.err)
	}
	if v, ok := got.series[`klaxon_queue_depth{queue="emails",state="waiting"}`]; v != 1 {
		t.Errorf("waiting depth = %v (present %v), want 1 even though the age is unknown", v, ok)
	}
	if v, ok := got.series[`klaxon_queue_oldest_job_age_seconds{queue="emails"}`]; ok {
		t.Errorf("age = %v, want none for a job without a timestamp", v)
	}
	if want := "job " + prefix + ":emails:1 has no timestamp field"; !strings.Contains(got.logs, want) {
		t.Errorf("logs do not say %q:\n%s", want, got.logs)
	}
}

func TestRedisUnreachable(t *testing.T) {
	addr := testenv.FreeAddr(t)
	got := redisScrape(t, redisConfig(t, "address: "+addr))
	redisCheckFailure(t, got, "ping "+addr+": dial tcp "+addr+": connect: connection refused")
}

func TestRedisTimeout(t *testing.T) {
	addr := testenv.SilentListener(t)
	c := redisConfig(t, "address: "+addr)
	c.Probes[0].Timeout = 200 * time.Millisecond
	got := redisScrape(t, c)
	if v, ok := got.series["klaxon_probe_success"]; !ok || v != 0 {
		t.Errorf("klaxon_probe_success = %v (present %v), want 0", v, ok)
	}
	// The read deadline and the probe's context end at the same instant,
	// so the error may or may not carry the context's cause.
	if got.err == nil || !strings.Contains(got.err.Error(), "ping "+addr+": ") ||
		!strings.Contains(got.err.Error(), "timeout") && !strings.Contains(got.err.Error(), "timed out") {
		t.Errorf("error %v, want one saying that the ping to %s timed out", got.err, addr)
	}
}

func TestRedisWrongPassword(t *testing.T) {
	addr := testenv.RedisAddr(t)
	user, _ := redisTestUser(t, redisTestClient(t, addr))
	wrong := "pw-" + rand.Text()
	got := redisScrape(t, redisConfig(t, fmt.Sprintf("address: %s\n      username: %s\n      password: %s", addr, user, wrong)))
	redisCheckFailure(t, got, "ping "+addr+": WRONGPASS invalid username-password pair")
	if strings.Contains(got.err.Error(), wrong) || strings.Contains(got.logs, wrong) {
		t.Errorf("the password leaked:\nerror: %v\nlogs: %s", got.err, got.logs)
	}
}

func TestRedisPasswordFile(t *testing.T) {
	addr := testenv.RedisAddr(t)
	client := redisTestClient(t, addr)
	user, password := redisTestUser(t, client)
	path := filepath.Join(t.TempDir(), "redis.pass")
	c := redisConfig(t, fmt.Sprintf("address: %s\n      username: %s\n      password_file: %s", addr, user, path))
	probe := redisCollector(t, c)

	// The file is read when probing, not when loading.
	got := redisRun(t, probe)
	redisCheckFailure(t, got, "reading password_file: open "+path+": no such file or directory")

	redisWriteFile(t, path, password+"\n")
	if got := redisRun(t, probe); got.err != nil || got.series["klaxon_probe_success"] != 1 {
		t.Errorf("with the right password: success %v, error %v", got.series["klaxon_probe_success"], got.err)
	}

	rotated := "pw-" + rand.Text()
	redisWriteFile(t, path, rotated)
	got = redisRun(t, probe)
	redisCheckFailure(t, got, "ping "+addr+": WRONGPASS")
	if strings.Contains(got.err.Error(), rotated) {
		t.Errorf("the password leaked: %v", got.err)
	}
}

func TestRedisInfoForbidden(t *testing.T) {
	addr := testenv.RedisAddr(t)
	user, password := redisTestUser(t, redisTestClient(t, addr), "-info")
	got := redisScrape(t, redisConfig(t, fmt.Sprintf("address: %s\n      username: %s\n      password: %s", addr, user, password)))
	if got.err != nil || got.series["klaxon_probe_success"] != 1 {
		t.Errorf("success %v, error %v; want a healthy probe without INFO", got.series["klaxon_probe_success"], got.err)
	}
	for _, name := range []string{"klaxon_redis_connected_clients", "klaxon_redis_memory_used_bytes", "klaxon_redis_memory_max_bytes"} {
		if v, ok := got.series[name]; ok {
			t.Errorf("%s = %v, want none without INFO", name, v)
		}
	}
	if _, ok := got.series["klaxon_redis_ping_duration_seconds"]; !ok {
		t.Error("no klaxon_redis_ping_duration_seconds")
	}
	if !strings.Contains(got.logs, "cannot read redis INFO") || !strings.Contains(got.logs, "NOPERM") {
		t.Errorf("logs do not say that INFO was refused:\n%s", got.logs)
	}
}

func TestRedisTLS(t *testing.T) {
	// Not a Redis server: a TLS server that answers PING with an HTTP
	// error. The handshake's outcome is what is tested.
	server := httptest.NewUnstartedServer(http.NotFoundHandler())
	server.Config.ErrorLog = log.New(io.Discard, "", 0)
	server.StartTLS()
	t.Cleanup(server.Close)
	addr := server.Listener.Addr().String()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	redisWriteFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw})))

	// Past the handshake, the HTTP server's answer to PING is the error.
	const answered = `can't parse map reply: "HTTP/1.1 400 Bad Request"`
	for _, tc := range []struct{ name, tls, want string }{
		{"system roots", "{}", "x509: certificate signed by unknown authority"},
		{"ca_file", "{ca_file: " + caFile + "}", answered},
		{"insecure", "{insecure_skip_verify: true}", answered},
		{"server_name", "{ca_file: " + caFile + ", server_name: example.com}", answered},
		{"wrong server_name", "{ca_file: " + caFile + ", server_name: other.example}",
			"x509: certificate is valid for example.com, *.example.com, not other.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := redisScrape(t, redisConfig(t, "address: "+addr+"\n      tls: "+tc.tls))
			redisCheckFailure(t, got, "ping "+addr+": ")
			if got.err != nil && !strings.Contains(got.err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", got.err, tc.want)
			}
		})
	}
}

// redisResult is what one run of a probe produced.
type redisResult struct {
	families []*dto.MetricFamily
	// series maps name{labels} to value, leaving out the labels every
	// metric of the probe has (probe, type).
	series map[string]float64
	err    error
	logs   string
}

// text renders the named metric family in the exposition format.
func (r redisResult) text(name string) string {
	var b bytes.Buffer
	for _, mf := range r.families {
		if mf.GetName() == name {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				panic(err)
			}
		}
	}
	return b.String()
}

// redisConfig decodes a config with one redis probe named jobs whose
// redis: section is body.
func redisConfig(t *testing.T, body string) *Config {
	t.Helper()
	in := "probes:\n  - name: jobs\n    redis:\n      " + body + "\n"
	c := &Config{}
	if err := yamlconf.Decode("redis.yml", []byte(in), c); err != nil {
		t.Fatalf("%v in\n%s", err, in)
	}
	return c
}

// redisProbeRun adapts a probe's collector to a prometheus.Collector.
type redisProbeRun struct {
	probe *probeCollector
	err   error
}

func (r *redisProbeRun) Describe(chan<- *prometheus.Desc) {}

func (r *redisProbeRun) Collect(ch chan<- prometheus.Metric) {
	r.err = r.probe.Update(context.Background(), ch)
}

func redisCollector(t *testing.T, c *Config) *probeCollector {
	t.Helper()
	cs, err := c.Collectors(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return cs[CollectorPrefix+c.Probes[0].Name].(*probeCollector)
}

// redisScrape builds the config's probe and runs it once.
func redisScrape(t *testing.T, c *Config) redisResult {
	t.Helper()
	return redisRun(t, redisCollector(t, c))
}

// redisRun runs probe once, capturing what its redis prober logs.
func redisRun(t *testing.T, probe *probeCollector) redisResult {
	t.Helper()
	var logs bytes.Buffer
	probe.logger = slog.New(slog.NewTextHandler(&logs, nil)).With("probe", probe.probe.Name)
	run := &redisProbeRun{probe: probe}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(run)
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	return redisResult{families: families, series: redisSeries(families), err: run.err, logs: logs.String()}
}

func redisSeries(families []*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				if l.GetName() != "probe" && l.GetName() != "type" {
					labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

// redisCheckAges checks that exactly the queues in atLeast report an
// oldest-job age, each at least the given seconds (exactly 0 where 0).
func redisCheckAges(t *testing.T, got redisResult, atLeast map[string]float64) {
	t.Helper()
	var want, have []string
	for q := range atLeast {
		want = append(want, q)
	}
	for _, m := range redisFamily(got.families, "klaxon_queue_oldest_job_age_seconds") {
		q := redisLabel(m, "queue")
		have = append(have, q)
		least, ok := atLeast[q]
		v := m.GetGauge().GetValue()
		switch {
		case ok && least == 0 && v != 0:
			t.Errorf("queue %s: oldest job age %v, want 0", q, v)
		case ok && v < least:
			t.Errorf("queue %s: oldest job age %v, want at least %v", q, v, least)
		}
	}
	slices.Sort(want)
	slices.Sort(have)
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("queues with an oldest job age (-want +got):\n%s", diff)
	}
}

// redisCheckFailure checks that a run failed with an error starting with
// reason and reported klaxon_probe_success 0.
func redisCheckFailure(t *testing.T, got redisResult, reason string) {
	t.Helper()
	want := `redis probe "jobs": ` + reason
	if got.err == nil || !strings.HasPrefix(got.err.Error(), want) {
		t.Errorf("error %v, want one starting with %s", got.err, want)
	}
	if v, ok := got.series["klaxon_probe_success"]; !ok || v != 0 {
		t.Errorf("klaxon_probe_success = %v (present %v), want 0", v, ok)
	}
}

func redisFamily(families []*dto.MetricFamily, name string) []*dto.Metric {
	for _, mf := range families {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

func redisLabel(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func redisWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func redisMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func redisTestClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { client.Close() })
	return client
}

// redisKeyPrefix returns a prefix, ending in ':', unique to this run of t;
// every key under it is deleted when t ends.
func redisKeyPrefix(t *testing.T, client *redis.Client) string {
	t.Helper()
	prefix := "klaxon-test:" + t.Name() + ":" + rand.Text() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			if err := client.Del(ctx, iter.Val()).Err(); err != nil {
				t.Errorf("cleaning up: %v", err)
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	})
	return prefix
}

// redisTestUser creates an ACL user that may run every command, less
// those rules remove, and returns its name and password; the user is
// deleted when t ends.
func redisTestUser(t *testing.T, client *redis.Client, rules ...string) (user, password string) {
	t.Helper()
	ctx := context.Background()
	user, password = "klaxon-test-"+rand.Text(), "pw-"+rand.Text()
	args := append([]any{"ACL", "SETUSER", user, "on", ">" + password, "~*", "&*", "+@all"}, redisAnys(rules)...)
	redisMust(t, client.Do(ctx, args...).Err())
	t.Cleanup(func() {
		if err := client.Do(ctx, "ACL", "DELUSER", user).Err(); err != nil {
			t.Errorf("deleting ACL user: %v", err)
		}
	})
	return user, password
}

func redisAnys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// redisXAdd adds an entry to a stream with an ID of the given time and
// returns the ID.
func redisXAdd(t *testing.T, client *redis.Client, stream string, at time.Time) string {
	t.Helper()
	id := fmt.Sprintf("%d-0", at.UnixMilli())
	err := client.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, ID: id, Values: []string{"job", "x"}}).Err()
	redisMust(t, err)
	return id
}

// redisBullMQJobs stores jobs the way BullMQ does: each job a hash
// <queue prefix>:<id> with its enqueue time in milliseconds, and the ids
// LPUSHed onto list in the order given.
func redisBullMQJobs(t *testing.T, client *redis.Client, list string, enqueued map[string]time.Time, ids ...string) {
	t.Helper()
	ctx := context.Background()
	queuePrefix := list[:strings.LastIndex(list, ":")]
	for _, id := range ids {
		redisMust(t, client.HSet(ctx, queuePrefix+":"+id,
			"name", "send", "data", "{}", "timestamp", strconv.FormatInt(enqueued[id].UnixMilli(), 10)).Err())
		redisMust(t, client.LPush(ctx, list, id).Err())
	}
}

// redisBullMQZSet adds job ids to one of BullMQ's sorted sets.
func redisBullMQZSet(t *testing.T, client *redis.Client, key string, ids ...string) {
	t.Helper()
	for i, id := range ids {
		redisMust(t, client.ZAdd(context.Background(), key, redis.Z{Score: float64(i), Member: id}).Err())
	}
}
