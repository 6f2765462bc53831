package benchcmp

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"time"
)

// Variant is one handler of a comparison: a rig's receivers, or a
// decode-only reference (Rig nil).
type Variant struct {
	// Name labels the variant's alert groups, errors and figures.
	Name string
	// URLs are the webhook URLs its posts go to in turn (RoundRobin).
	URLs []string
	// Rig, when not nil, runs the receivers behind URLs: its store counts
	// what they commit, and the end-to-end phase goes through it.
	Rig *ReceiverRig
}

// VariantLoad is one variant's throughput phase at one number of senders.
type VariantLoad struct {
	// Clients posted at once, each waiting for an answer before its next
	// post.
	Clients    int
	Throughput Throughput
	// Batched notifications were committed in Commits transactions, over
	// all of a rig's receivers; 0 for a reference.
	Batched, Commits int
}

// PerCommit is the mean number of notifications per transaction.
func (l VariantLoad) PerCommit() float64 { return Ratio(float64(l.Batched), float64(l.Commits)) }

func (l VariantLoad) add(o VariantLoad) VariantLoad {
	l.Throughput = l.Throughput.Add(o.Throughput)
	l.Batched += o.Batched
	l.Commits += o.Commits
	return l
}

// VariantResult is what MeasureVariants found for one variant, over one
// round or several.
type VariantResult struct {
	Name string
	// Loads are the throughput phase, one per number of clients.
	Loads []VariantLoad
	// Ack are the latencies of the acknowledgement phase.
	Ack []time.Duration
	// EndToEnd are the latencies from a webhook's POST to its event's
	// arrival at the fake PagerDuty; none for a reference.
	EndToEnd []time.Duration
	// Accepted counts a rig's 200 answers, warm-up included; 0 for a
	// reference.
	Accepted int
}

// At is the load at clients senders, or a zero one with Clients set.
func (v VariantResult) At(clients int) VariantLoad {
	i := slices.IndexFunc(v.Loads, func(l VariantLoad) bool { return l.Clients == clients })
	if i < 0 {
		return VariantLoad{Clients: clients}
	}
	return v.Loads[i]
}

// Peak is the variant's max throughput: its load at the best rate.
func (v VariantResult) Peak() VariantLoad {
	var best VariantLoad
	for _, l := range v.Loads {
		if l.Throughput.Rate() > best.Throughput.Rate() {
			best = l
		}
	}
	return best
}

func (v VariantResult) add(o VariantResult) VariantResult {
	v.Name = o.Name
	v.Loads = slices.Clone(v.Loads)
	for _, l := range o.Loads {
		i := slices.IndexFunc(v.Loads, func(m VariantLoad) bool { return m.Clients == l.Clients })
		if i < 0 {
			v.Loads = append(v.Loads, l)
			continue
		}
		v.Loads[i] = v.Loads[i].add(l)
	}
	v.Ack = slices.Concat(v.Ack, o.Ack)
	v.EndToEnd = slices.Concat(v.EndToEnd, o.EndToEnd)
	v.Accepted += o.Accepted
	return v
}

// Comparison is the figures of variants measured in the same rounds, in
// the order they were given.
type Comparison struct {
	// AckRate is the offered load of the acknowledgement phase.
	AckRate float64
	// Teams is the number of routing keys of the end-to-end phase.
	Teams    int
	Variants []VariantResult
}

// Variant is the figures of the variant named name, or false.
func (c Comparison) Variant(name string) (VariantResult, bool) {
	i := slices.IndexFunc(c.Variants, func(v VariantResult) bool { return v.Name == name })
	if i < 0 {
		return VariantResult{}, false
	}
	return c.Variants[i], true
}

// Add merges the figures of another round into c, variant by variant (by
// name) and each load with the one at the same number of clients.
func (c Comparison) Add(o Comparison) Comparison {
	c.AckRate, c.Teams = o.AckRate, o.Teams
	c.Variants = slices.Clone(c.Variants)
	for _, v := range o.Variants {
		i := slices.IndexFunc(c.Variants, func(w VariantResult) bool { return w.Name == v.Name })
		if i < 0 {
			c.Variants = append(c.Variants, v)
			continue
		}
		c.Variants[i] = c.Variants[i].add(v)
	}
	return c
}

// Rotation is the order in which round measures n variants: the given
// order turned by round, so that each goes first in turn and whatever
// else the machine does falls on all alike.
func Rotation(n, round int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = (i + round) % n
	}
	return out
}

// MeasureVariants runs one round over vs: the throughput phase (at each
// of p.Clients, every variant in turn) and the acknowledgement phase
// (every variant in turn), whose senders run in a process of their own
// (RunLoad) unless the plan says InProcess, and then the end-to-end phase
// of every rig variant, from client, if the plan has one. Round numbers
// keep the rounds' alert groups apart and turn the order of the variants
// (Rotation).
func MeasureVariants(ctx context.Context, client *http.Client, p Plan, vs []Variant, round int) (Comparison, error) {
	c := Comparison{AckRate: p.AckRate, Variants: make([]VariantResult, len(vs))}
	for i, v := range vs {
		c.Variants[i].Name = v.Name
		if v.Rig != nil {
			c.Teams = len(v.Rig.Teams)
		}
	}
	order := Rotation(len(vs), round)
	for _, clients := range p.Clients {
		for _, i := range order {
			load, err := vs[i].throughput(ctx, p, clients, round)
			if err != nil {
				return c, err
			}
			c.Variants[i].Loads = append(c.Variants[i].Loads, load)
			if vs[i].Rig != nil {
				c.Variants[i].Accepted += p.WarmUp + p.Payloads
			}
		}
	}
	for _, i := range order {
		ack, err := vs[i].ackLatency(ctx, p, round)
		if err != nil {
			return c, err
		}
		c.Variants[i].Ack = ack
		if vs[i].Rig != nil {
			c.Variants[i].Accepted += p.AckPayloads
		}
	}
	if p.EndToEndPayloads == 0 {
		return c, nil
	}
	for _, i := range order {
		if vs[i].Rig == nil {
			continue
		}
		e2e, err := vs[i].Rig.endToEnd(ctx, client, p, fmt.Sprintf("r%d-%s-e2e", round, vs[i].Name))
		if err != nil {
			return c, fmt.Errorf("%s: %w", vs[i].Name, err)
		}
		c.Variants[i].EndToEnd = e2e
		c.Variants[i].Accepted += len(e2e)
	}
	return c, nil
}

// throughput posts as fast as clients senders can, and reads from the
// store how many transactions a rig's part took.
func (v Variant) throughput(ctx context.Context, p Plan, clients, round int) (VariantLoad, error) {
	load := VariantLoad{Clients: clients}
	var before, commitsBefore int
	warmed := func() (err error) {
		if v.Rig != nil {
			before, commitsBefore, err = v.Rig.Committed()
		}
		runtime.GC()
		return err
	}
	job := LoadJob{URLs: v.URLs, Prefix: fmt.Sprintf("r%d-c%d-%s", round, clients, v.Name), Payloads: p.Payloads, WarmUp: p.WarmUp, Clients: clients}
	got, err := p.load(ctx, job, warmed)
	if err != nil {
		return load, fmt.Errorf("throughput of the %s, %d clients: %w", v.Name, clients, err)
	}
	load.Throughput = got.Throughput
	if v.Rig == nil {
		return load, nil
	}
	after, commitsAfter, err := v.Rig.Committed()
	if err != nil {
		return load, err
	}
	load.Batched, load.Commits = after-before, commitsAfter-commitsBefore
	return load, nil
}

// ackLatency posts p.AckPayloads at p.AckRate (open loop) and returns
// each post's latency.
func (v Variant) ackLatency(ctx context.Context, p Plan, round int) ([]time.Duration, error) {
	runtime.GC()
	job := LoadJob{URLs: v.URLs, Prefix: fmt.Sprintf("r%d-%s-ack", round, v.Name), Payloads: p.AckPayloads, Rate: p.AckRate}
	got, err := p.load(ctx, job, nil)
	if err != nil {
		return nil, fmt.Errorf("acknowledgement latency of the %s: %w", v.Name, err)
	}
	return got.Latencies, nil
}
