package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.yaml.in/yaml/v3"

	"github.com/klaxonhq/klaxon/pkg/yamlconf"
)

// RedisConfig configures a redis probe: it pings the server, reads a few
// INFO fields and measures the configured job queues.
type RedisConfig struct {
	// Address is the server's host:port.
	Address  string `yaml:"address"`
	Username string `yaml:"username"`
	// Password and PasswordFile are mutually exclusive. The file is read,
	// and trimmed, on every probe so that a rotated password is picked up.
	Password     commoncfg.Secret `yaml:"password"`
	PasswordFile string           `yaml:"password_file"`
	DB           int              `yaml:"db"`
	TLS          *RedisTLSConfig  `yaml:"tls"`
	Queues       []RedisQueue     `yaml:"queues"`
}

// RedisTLSConfig turns on TLS for a redis probe.
type RedisTLSConfig struct {
	// CAFile verifies the server instead of the system's roots.
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	// ServerName defaults to the host of the address.
	ServerName string `yaml:"server_name"`
}

// RedisQueue is one job queue kept in Redis. Exactly one of Key and BullMQ
// is set.
type RedisQueue struct {
	// Key is a list, sorted set or stream; its type is looked up on every
	// probe.
	Key string `yaml:"key"`
	// BullMQ is the name of a BullMQ queue, whose keys start with Prefix.
	BullMQ string `yaml:"bullmq"`
	Prefix string `yaml:"prefix"`
	// Name is the queue label; it defaults to Key or BullMQ.
	Name string `yaml:"name"`
	// Score, for a sorted set, says that scores are enqueue times in
	// RedisScoreSeconds or RedisScoreMilliseconds.
	Score string `yaml:"score"`
}

// Values of RedisQueue.Score.
const (
	RedisScoreSeconds      = "unix_seconds"
	RedisScoreMilliseconds = "unix_milliseconds"
)

// DefaultBullMQPrefix is BullMQ's own default key prefix.
const DefaultBullMQPrefix = "bull"

// UnmarshalYAML validates the redis config.
func (c *RedisConfig) UnmarshalYAML(node *yaml.Node) error {
	type plain RedisConfig
	if err := yamlconf.DecodeNode(node, (*plain)(c)); err != nil {
		return err
	}
	if c.Address == "" {
		return yamlconf.Errorf(node, "redis address is required (host:port)")
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return yamlconf.Errorf(node, "redis address must be host:port: %v", err)
	}
	if c.Password != "" && c.PasswordFile != "" {
		return yamlconf.Errorf(node, "at most one of password and password_file may be set")
	}
	if c.DB < 0 {
		return yamlconf.Errorf(node, "redis db must be 0 or more, not %d", c.DB)
	}
	seen := map[string]bool{}
	for i, q := range c.Queues {
		if seen[q.Name] {
			return yamlconf.Errorf(yamlconf.ItemNode(node, "queues", i), "queue name %q is used twice", q.Name)
		}
		seen[q.Name] = true
	}
	return nil
}

// UnmarshalYAML validates one queue and fills in its name and prefix.
func (q *RedisQueue) UnmarshalYAML(node *yaml.Node) error {
	type plain RedisQueue
	if err := yamlconf.DecodeNode(node, (*plain)(q)); err != nil {
		return err
	}
	if (q.Key == "") == (q.BullMQ == "") {
		return yamlconf.Errorf(node, "a queue needs exactly one of key and bullmq")
	}
	if q.Name == "" {
		q.Name = q.Key + q.BullMQ
	}
	if q.BullMQ != "" {
		if q.Score != "" {
			return yamlconf.Errorf(node, "queue %q: score is only for key queues", q.Name)
		}
		if q.Prefix == "" {
			q.Prefix = DefaultBullMQPrefix
		}
		return nil
	}
	if q.Prefix != "" {
		return yamlconf.Errorf(node, "queue %q: prefix is only for bullmq queues", q.Name)
	}
	if q.Score != "" && q.Score != RedisScoreSeconds && q.Score != RedisScoreMilliseconds {
		return yamlconf.Errorf(node, "queue %q: score must be %s or %s, not %q",
			q.Name, RedisScoreSeconds, RedisScoreMilliseconds, q.Score)
	}
	return nil
}

func (c *RedisConfig) resolvePaths(configFile string) {
	c.PasswordFile = yamlconf.ResolvePath(configFile, c.PasswordFile)
	if c.TLS != nil {
		c.TLS.CAFile = yamlconf.ResolvePath(configFile, c.TLS.CAFile)
	}
}

func (c *RedisConfig) newProber(p *Probe) (prober, error) {
	if _, err := c.tlsConfig(); err != nil {
		return nil, err
	}
	return &redisProber{conf: c}, nil
}

// clientOptions are the go-redis options of one probe: a single
// connection, no retries, every call bounded by its context.
func (c *RedisConfig) clientOptions() (*redis.Options, error) {
	password, err := c.password()
	if err != nil {
		return nil, err
	}
	tlsConfig, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &redis.Options{
		Addr:                     c.Address,
		Username:                 c.Username,
		Password:                 password,
		DB:                       c.DB,
		TLSConfig:                tlsConfig,
		Protocol:                 2,
		PoolSize:                 1,
		PipelinePoolSize:         -1,
		MaxRetries:               -1,
		DialerRetries:            1,
		ContextTimeoutEnabled:    true,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}, nil
}

func (c *RedisConfig) password() (string, error) {
	if c.PasswordFile == "" {
		return string(c.Password), nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("reading password_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// tlsConfig is nil when TLS is off.
func (c *RedisConfig) tlsConfig() (*tls.Config, error) {
	if c.TLS == nil {
		return nil, nil
	}
	serverName := c.TLS.ServerName
	if serverName == "" {
		serverName, _, _ = net.SplitHostPort(c.Address)
	}
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         serverName,
		InsecureSkipVerify: c.TLS.InsecureSkipVerify,
	}
	if c.TLS.CAFile == "" {
		return conf, nil
	}
	pem, err := os.ReadFile(c.TLS.CAFile)
	if err != nil {
		return nil, fmt.Errorf("reading tls ca_file: %w", err)
	}
	conf.RootCAs = x509.NewCertPool()
	if !conf.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls ca_file %s holds no PEM certificate", c.TLS.CAFile)
	}
	return conf, nil
}

// redisProber probes one Redis server with a fresh connection per scrape.
type redisProber struct {
	conf *RedisConfig
}

func (r *redisProber) probe(ctx context.Context, e *Emitter) (bool, error) {
	opts, err := r.conf.clientOptions()
	if err != nil {
		return false, err
	}
	// The first command dials and authenticates; the PING round trip is
	// timed from the end of that.
	start := time.Now()
	opts.OnConnect = func(context.Context, *redis.Conn) error {
		start = time.Now()
		return nil
	}
	client := redis.NewClient(opts)
	defer client.Close()

	if err := client.Ping(ctx).Err(); err != nil {
		return false, fmt.Errorf("ping %s: %w", r.conf.Address, err)
	}
	e.Gauge("redis_ping_duration_seconds", "Round trip of a PING to Redis, in seconds, not counting connecting.",
		time.Since(start).Seconds())
	return true, r.collect(ctx, client, e)
}

// collect reads INFO, the server time and the queues in two pipelined
// round trips: the second holds the commands that depend on the first's
// answers (the type of a key, the id of a BullMQ job).
func (r *redisProber) collect(ctx context.Context, client *redis.Client, e *Emitter) error {
	readers := make([]redisQueueReader, len(r.conf.Queues))
	pipe := client.Pipeline()
	clients := pipe.Info(ctx, "clients")
	memory := pipe.Info(ctx, "memory")
	serverTime := pipe.Time(ctx)
	for i := range r.conf.Queues {
		readers[i] = newRedisQueueReader(&r.conf.Queues[i])
		readers[i].plan(ctx, pipe)
	}
	if err := redisExec(ctx, pipe); err != nil {
		return err
	}
	if err := emitRedisInfo(e, clients.Val()+memory.Val(), errors.Join(clients.Err(), memory.Err())); err != nil {
		e.Logger().Error("cannot read redis INFO", "err", err)
	}

	pipe = client.Pipeline()
	for _, rd := range readers {
		rd.follow(ctx, pipe)
	}
	if err := redisExec(ctx, pipe); err != nil {
		return err
	}
	now := serverTime.Val()
	if serverTime.Err() != nil {
		now = time.Now()
	}
	for i, rd := range readers {
		if err := rd.report(e, now); err != nil {
			e.Logger().Error("cannot read queue", "queue", r.conf.Queues[i].Name, "err", err)
		}
	}
	return nil
}

// redisExec runs a pipeline. It fails only when the server could not be
// talked to; error replies to single commands are left in their results.
func redisExec(ctx context.Context, pipe redis.Pipeliner) error {
	if pipe.Len() == 0 {
		return nil
	}
	cmds, _ := pipe.Exec(ctx)
	for _, cmd := range cmds {
		var reply redis.Error
		if err := cmd.Err(); err != nil && !errors.As(err, &reply) {
			return fmt.Errorf("reading redis: %w", err)
		}
	}
	return nil
}

// emitRedisInfo sends the gauges taken from the text of INFO clients and
// INFO memory.
func emitRedisInfo(e *Emitter, info string, err error) error {
	if err != nil {
		return err
	}
	fields := parseRedisInfo(info)
	gauges := []struct{ field, name, help string }{
		{"connected_clients", "redis_connected_clients", "Client connections to Redis (connected_clients of INFO clients)."},
		{"used_memory", "redis_memory_used_bytes", "Memory Redis has allocated, in bytes (used_memory of INFO memory)."},
		{"maxmemory", "redis_memory_max_bytes", "Redis' memory limit, in bytes; 0 means no limit (maxmemory of INFO memory)."},
	}
	var problems []error
	for _, g := range gauges {
		v, err := strconv.ParseFloat(fields[g.field], 64)
		if err != nil {
			problems = append(problems, fmt.Errorf("INFO field %s: %w", g.field, err))
			continue
		}
		e.Gauge(g.name, g.help, v)
	}
	return errors.Join(problems...)
}

// parseRedisInfo maps the fields of INFO output to their values.
func parseRedisInfo(info string) map[string]string {
	fields := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			fields[k] = v
		}
	}
	return fields
}

const (
	queueDepthHelp = "Jobs in the queue, by state."
	queueAgeHelp   = "Age of the queue's oldest waiting job, in seconds, as seen by the Redis server's clock; 0 when none waits."
)

// redisQueueReader reads one queue in the two pipelined rounds of a probe.
type redisQueueReader interface {
	// plan adds the first round's commands to pipe.
	plan(ctx context.Context, pipe redis.Pipeliner)
	// follow adds the commands that depend on the first round's answers.
	follow(ctx context.Context, pipe redis.Pipeliner)
	// report sends the queue's metrics, with ages relative to now. On
	// error, nothing or only the depths have been sent.
	report(e *Emitter, now time.Time) error
}

func newRedisQueueReader(q *RedisQueue) redisQueueReader {
	if q.BullMQ != "" {
		return &bullMQReader{queue: q}
	}
	return &redisKeyReader{queue: q}
}

// redisKeyReader reads a queue kept in one key: a list, sorted set or
// stream.
type redisKeyReader struct {
	queue *RedisQueue
	typ   *redis.StatusCmd
	depth *redis.IntCmd
	// oldest is the key's first zset member or stream entry, when its
	// age can be known.
	oldest interface{ Err() error }
}

func (k *redisKeyReader) plan(ctx context.Context, pipe redis.Pipeliner) {
	k.typ = pipe.Type(ctx, k.queue.Key)
}

func (k *redisKeyReader) follow(ctx context.Context, pipe redis.Pipeliner) {
	key := k.queue.Key
	switch k.typ.Val() {
	case "list":
		k.depth = pipe.LLen(ctx, key)
	case "zset":
		k.depth = pipe.ZCard(ctx, key)
		if k.queue.Score != "" {
			k.oldest = pipe.ZRangeWithScores(ctx, key, 0, 0)
		}
	case "stream":
		k.depth = pipe.XLen(ctx, key)
		k.oldest = pipe.XRangeN(ctx, key, "-", "+", 1)
	}
}

func (k *redisKeyReader) report(e *Emitter, now time.Time) error {
	typ, err := k.typ.Result()
	switch {
	case err != nil:
		return fmt.Errorf("type of key %s: %w", k.queue.Key, err)
	case typ == "none": // a drained queue's key is deleted
		k.emit(e, 0, 0, k.queue.Score != "")
		return nil
	case k.depth == nil:
		return fmt.Errorf("key %s is a %s; a queue must be a list, zset or stream", k.queue.Key, typ)
	}
	depth, err := k.depth.Result()
	if err != nil {
		return fmt.Errorf("length of %s %s: %w", typ, k.queue.Key, err)
	}
	age, err := k.age(now)
	if err != nil {
		return fmt.Errorf("oldest entry of %s %s: %w", typ, k.queue.Key, err)
	}
	k.emit(e, depth, age, k.oldest != nil)
	return nil
}

func (k *redisKeyReader) emit(e *Emitter, depth int64, age float64, withAge bool) {
	e.Gauge("queue_depth", queueDepthHelp, float64(depth), "queue", k.queue.Name, "state", "waiting")
	if withAge {
		e.Gauge("queue_oldest_job_age_seconds", queueAgeHelp, age, "queue", k.queue.Name)
	}
}

// age is the age of the first zset member or stream entry, 0 when the key
// is empty or its age cannot be known.
func (k *redisKeyReader) age(now time.Time) (float64, error) {
	switch oldest := k.oldest.(type) {
	case *redis.ZSliceCmd:
		members, err := oldest.Result()
		if err != nil || len(members) == 0 {
			return 0, err
		}
		ms := members[0].Score
		if k.queue.Score == RedisScoreSeconds {
			ms *= 1000
		}
		return ageSeconds(now, time.UnixMilli(int64(ms))), nil
	case *redis.XMessageSliceCmd:
		entries, err := oldest.Result()
		if err != nil || len(entries) == 0 {
			return 0, err
		}
		ms, err := streamIDMillis(entries[0].ID)
		return ageSeconds(now, time.UnixMilli(ms)), err
	}
	return 0, nil
}

// streamIDMillis is the time part of a stream entry ID, "<ms>-<seq>".
func streamIDMillis(id string) (int64, error) {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stream entry ID %q: %w", id, err)
	}
	return n, nil
}

// ageSeconds is now - then, never negative: a timestamp slightly in the
// future comes from a producer whose clock is ahead.
func ageSeconds(now, then time.Time) float64 {
	return max(now.Sub(then).Seconds(), 0)
}

// bullMQReader reads a BullMQ queue. BullMQ LPUSHes job ids onto
// <prefix>:<name>:wait (or :paused while the queue is paused), keeps
// prioritized jobs in the :prioritized zset, and workers move ids from the
// right end to :active. Each job is a hash <prefix>:<name>:<id> whose
// timestamp field is the enqueue time in milliseconds.
type bullMQReader struct {
	queue  *RedisQueue
	depths []bullMQKey
	// tails are the ids at the right end of the wait and paused lists.
	tails []*redis.StringCmd
	// oldest is the id of the oldest job in the wait or paused list, and
	// enqueued its timestamp field.
	oldest   string
	enqueued *redis.StringCmd
}

// bullMQKey is one key of a BullMQ queue and the state its jobs are in.
type bullMQKey struct {
	state, suffix string
	length        *redis.IntCmd
}

func (b *bullMQReader) key(suffix string) string {
	return b.queue.Prefix + ":" + b.queue.BullMQ + ":" + suffix
}

func (b *bullMQReader) plan(ctx context.Context, pipe redis.Pipeliner) {
	for _, s := range []bullMQKey{{"waiting", "wait", nil}, {"waiting", "paused", nil}, {"active", "active", nil}} {
		s.length = pipe.LLen(ctx, b.key(s.suffix))
		b.depths = append(b.depths, s)
	}
	for _, s := range []bullMQKey{{"waiting", "prioritized", nil}, {"delayed", "delayed", nil}, {"failed", "failed", nil}} {
		s.length = pipe.ZCard(ctx, b.key(s.suffix))
		b.depths = append(b.depths, s)
	}
	b.tails = []*redis.StringCmd{pipe.LIndex(ctx, b.key("wait"), -1), pipe.LIndex(ctx, b.key("paused"), -1)}
}

func (b *bullMQReader) follow(ctx context.Context, pipe redis.Pipeliner) {
	for _, tail := range b.tails {
		if id, err := tail.Result(); err == nil {
			b.oldest = id
			b.enqueued = pipe.HGet(ctx, b.key(id), "timestamp")
			return
		}
	}
}

func (b *bullMQReader) report(e *Emitter, now time.Time) error {
	depths := map[string]int64{}
	for _, s := range b.depths {
		n, err := s.length.Result()
		if err != nil {
			return fmt.Errorf("length of %s: %w", b.key(s.suffix), err)
		}
		depths[s.state] += n
	}
	for _, state := range []string{"waiting", "active", "delayed", "failed"} {
		e.Gauge("queue_depth", queueDepthHelp, float64(depths[state]), "queue", b.queue.Name, "state", state)
	}
	if b.enqueued == nil && depths["waiting"] > 0 {
		// Only prioritized jobs wait: their ages are not known without
		// reading every one of them.
		return b.tailError()
	}
	age, err := b.age(now)
	if err != nil {
		return err
	}
	e.Gauge("queue_oldest_job_age_seconds", queueAgeHelp, age, "queue", b.queue.Name)
	return nil
}

// tailError is the error, if any, of reading the ends of the wait and
// paused lists; an empty list is none.
func (b *bullMQReader) tailError() error {
	for i, tail := range b.tails {
		if err := tail.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("oldest job of %s: %w", b.key([]string{"wait", "paused"}[i]), err)
		}
	}
	return nil
}

// age is the age of the oldest job in the wait or paused list, 0 when
// there is none.
func (b *bullMQReader) age(now time.Time) (float64, error) {
	if err := b.tailError(); err != nil || b.enqueued == nil {
		return 0, err
	}
	ts, err := b.enqueued.Result()
	if errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("job %s has no timestamp field", b.key(b.oldest))
	}
	if err != nil {
		return 0, fmt.Errorf("timestamp of job %s: %w", b.key(b.oldest), err)
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("timestamp of job %s: %w", b.key(b.oldest), err)
	}
	return ageSeconds(now, time.UnixMilli(ms)), nil
}

// SetDriverLogger sends go-redis's own log lines, which would otherwise go
// to stderr in their own format, to logger at debug level: every failure
// they describe is already reported as the probe's error.
func SetDriverLogger(logger *slog.Logger) {
	redis.SetLogger(redisLogger{logger.With("driver", "go-redis")})
}

type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.DebugContext(ctx, fmt.Sprintf(format, v...))
}
