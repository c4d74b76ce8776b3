package console

import (
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// promSample is one line of Prometheus text exposition: a metric name,
// its labels and its value.
type promSample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// parsePromText reads the samples of a Prometheus text exposition with
// the Prometheus project's own parser (expfmt). Counters, gauges and
// untyped metrics give one sample per series under their name;
// histograms and summaries give name_count and name_sum, as they read in
// the text. An exposition the parser refuses gives no samples: the
// console then shows no metric-based rates (end-offset rates remain).
func parsePromText(r io.Reader) []promSample {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil
	}
	var out []promSample
	for name, f := range families {
		for _, m := range f.GetMetric() {
			out = append(out, familySamples(name, m)...)
		}
	}
	return out
}

// familySamples flattens one series of a metric family.
func familySamples(name string, m *dto.Metric) []promSample {
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	one := func(n string, v float64) promSample { return promSample{Name: n, Labels: labels, Value: v} }
	switch {
	case m.Counter != nil:
		return []promSample{one(name, m.GetCounter().GetValue())}
	case m.Gauge != nil:
		return []promSample{one(name, m.GetGauge().GetValue())}
	case m.Untyped != nil:
		return []promSample{one(name, m.GetUntyped().GetValue())}
	case m.Histogram != nil:
		h := m.GetHistogram()
		return []promSample{one(name+"_count", float64(h.GetSampleCount())), one(name+"_sum", h.GetSampleSum())}
	case m.Summary != nil:
		sm := m.GetSummary()
		return []promSample{one(name+"_count", float64(sm.GetSampleCount())), one(name+"_sum", sm.GetSampleSum())}
	}
	return nil
}

// sumMetric adds the values of the samples named name whose labels
// include every pair of match.
func sumMetric(samples []promSample, name string, match map[string]string) (float64, bool) {
	var sum float64
	found := false
	for _, s := range samples {
		if s.Name != name || !labelsMatch(s.Labels, match) {
			continue
		}
		sum += s.Value
		found = true
	}
	return sum, found
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
