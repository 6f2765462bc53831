package testkit

import (
	"bytes"
	"os"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// GoldenMetrics compares the metrics g gathers, only those named if any
// are, with the golden file at path in the text exposition format, as
// Prometheus's testutil.GatherAndCompare does. With -update it writes
// them to path instead.
func GoldenMetrics(t testing.TB, path string, g prometheus.Gatherer, names ...string) {
	t.Helper()
	if *update {
		WriteGolden(t, path, exposition(t, g, names))
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (%s writes it)", err, UpdateCommand())
	}
	defer f.Close()
	if err := testutil.GatherAndCompare(g, f, names...); err != nil {
		t.Errorf("metrics differ from %s; if the change is intended, %s rewrites it:\n%v", path, UpdateCommand(), err)
	}
}

// exposition is the text exposition of the metrics g gathers, only those
// named if any are.
func exposition(t testing.TB, g prometheus.Gatherer, names []string) []byte {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range families {
		if len(names) > 0 && !slices.Contains(names, mf.GetName()) {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// Histogram is the one histogram named name that g gathers; it fails t
// when there is none.
func Histogram(t testing.TB, g prometheus.Gatherer, name string) *dto.Histogram {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(families, func(mf *dto.MetricFamily) bool { return mf.GetName() == name })
	if i < 0 || len(families[i].GetMetric()) != 1 || families[i].GetMetric()[0].GetHistogram() == nil {
		t.Fatalf("no single histogram named %s", name)
	}
	return families[i].GetMetric()[0].GetHistogram()
}
