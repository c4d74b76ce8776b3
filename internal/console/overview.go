package console

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// brokerRow is one broker on the overview.
type brokerRow struct {
	ID           int32
	Addr, Rack   string
	Up           bool // in the Metadata response (registered and unfenced)
	Controller   bool // the active controller as Metadata reports it
	Voter        bool // a voter of the metadata quorum
	Leaders      int
	Replicas     int
	QuorumLag    int64 // metadata records behind the quorum's high watermark; -1 unknown
	LogDirsBytes int64 // -1 unknown
}

// health counts the partitions that need attention.
type health struct {
	Topics, Partitions                    int
	UnderReplicated, UnderMinISR, Offline int
	Problems                              []problemRow // the first few
}

type problemRow struct {
	Topic     string
	Partition int32
	Leader    int32
	Replicas  []int32
	ISR       []int32
	Why       string
}

// chart is one rate chart.
type chart struct {
	Title, Now, Peak, Source, Span string
	Spark                          template.HTML
	Points                         int
}

type overviewData struct {
	ClusterID  string
	Controller int32
	Brokers    []brokerRow
	Health     health
	Charts     []chart
	Quorum     *quorumInfo
	SnapTook   time.Duration
	Timings    string
	Events     []event
	// Nodes is the node panel, beside `fjord dev` only.
	Nodes *nodePanel
	// ClusterErr is why there is no snapshot: with the node panel the
	// overview still renders (the panel can start the stopped nodes).
	ClusterErr string
}

const maxProblems = 20

func (s *Server) overview(_ context.Context, _ *http.Request) (pageResult, error) {
	snap, err := s.snapshot()
	if err != nil && s.opts.Nodes == nil {
		return pageResult{}, kafkaError("reading cluster metadata", err)
	}
	if err != nil {
		d := overviewData{ClusterErr: kafkaError("reading cluster metadata", err).Error(),
			Events: s.events.recent(30), Nodes: s.nodePanel(nil, time.Now())}
		return pageResult{page: "overview", title: "Overview", nav: "overview", live: true, data: d}, nil
	}
	d := overviewData{ClusterID: snap.meta.Cluster, Controller: snap.meta.Controller,
		Brokers: brokerRows(snap), Health: healthOf(snap), Charts: s.charts(), Quorum: snap.quorum, SnapTook: snap.took, Timings: snap.timings,
		Events: s.events.recent(30)}
	if s.opts.Nodes != nil {
		d.Nodes = s.nodePanel(snap, time.Now())
	}
	return pageResult{page: "overview", title: "Overview", nav: "overview", live: true, data: d, warnings: snap.warnings}, nil
}

// brokerRows lists the live brokers and every broker id the partitions or
// the quorum name that Metadata does not list (down or fenced).
func brokerRows(snap *snapshot) []brokerRow {
	rows := map[int32]*brokerRow{}
	row := func(id int32) *brokerRow {
		if rows[id] == nil {
			rows[id] = &brokerRow{ID: id, QuorumLag: -1, LogDirsBytes: -1}
		}
		return rows[id]
	}
	for _, b := range snap.meta.Brokers {
		r := row(b.NodeID)
		r.Up, r.Addr = true, hostPort(b)
		if b.Rack != nil {
			r.Rack = *b.Rack
		}
	}
	snap.meta.Topics.EachPartition(func(p kadm.PartitionDetail) {
		for _, id := range p.Replicas {
			row(id).Replicas++
		}
		if p.Leader >= 0 {
			row(p.Leader).Leaders++
		}
	})
	markQuorum(snap.quorum, row)
	for id, dirs := range snap.logDirs {
		var sum int64
		for _, d := range dirs {
			sum += d.Size()
		}
		row(id).LogDirsBytes = sum
	}
	if r, ok := rows[snap.meta.Controller]; ok {
		r.Controller = true
	}
	out := make([]brokerRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b brokerRow) int { return int(a.ID) - int(b.ID) })
	return out
}

func markQuorum(q *quorumInfo, row func(int32) *brokerRow) {
	if q == nil {
		return
	}
	for _, v := range q.Voters {
		r := row(v.ID)
		r.Voter = true
		if v.LogEnd >= 0 {
			r.QuorumLag = max(0, q.HighWatermark-v.LogEnd)
		}
	}
}

func hostPort(b kadm.BrokerDetail) string {
	return b.Host + ":" + itoa(b.Port)
}

// healthOf counts under-replicated (ISR smaller than the replicas),
// under-min-ISR (ISR below the topic's min.insync.replicas, capped by the
// replication factor as Kafka's metric) and offline (no leader)
// partitions.
func healthOf(snap *snapshot) health {
	var h health
	h.Topics = len(snap.meta.Topics)
	snap.meta.Topics.EachPartition(func(p kadm.PartitionDetail) {
		h.Partitions++
		why := partitionTrouble(p, snap.minISR(p.Topic))
		switch why {
		case "offline":
			h.Offline++
			h.UnderReplicated++
		case "under min ISR":
			h.UnderMinISR++
			h.UnderReplicated++
		case "under-replicated":
			h.UnderReplicated++
		default:
			return
		}
		if len(h.Problems) < maxProblems {
			h.Problems = append(h.Problems, problemRow{p.Topic, p.Partition, p.Leader, p.Replicas, p.ISR, why})
		}
	})
	slices.SortFunc(h.Problems, func(a, b problemRow) int {
		if a.Topic != b.Topic {
			return compareStrings(a.Topic, b.Topic)
		}
		return int(a.Partition - b.Partition)
	})
	return h
}

// partitionTrouble names the worst condition of p: "offline",
// "under min ISR", "under-replicated" or "".
func partitionTrouble(p kadm.PartitionDetail, minISR int) string {
	switch {
	case p.Leader < 0:
		return "offline"
	case len(p.ISR) < min(minISR, len(p.Replicas)):
		return "under min ISR"
	case len(p.ISR) < len(p.Replicas):
		return "under-replicated"
	}
	return ""
}

// charts draws the rate charts from the sampler's ring: records appended
// (from end offsets, any cluster) and, where /metrics answered, request
// and byte rates.
func (s *Server) charts() []chart {
	ss := s.rates.all()
	out := []chart{newChart("Records produced/s", "end-offset deltas", endOffsetRates(ss))}
	for _, c := range []struct{ key, title string }{
		{"produce_requests", "Produce requests/s"}, {"fetch_requests", "Fetch requests/s"},
		{"messages_in", "Messages in/s"}, {"bytes_in", "Bytes in/s"}, {"bytes_out", "Bytes out/s"},
	} {
		if pts := counterRates(ss, c.key); len(pts) > 0 {
			out = append(out, newChart(c.title, "/metrics", pts))
		}
	}
	return out
}

func newChart(title, source string, pts []ratePoint) chart {
	c := chart{Title: title, Source: source, Spark: sparkline(pts, 240, 48), Points: len(pts), Now: "—", Peak: "—", Span: "no samples yet"}
	if len(pts) == 0 {
		return c
	}
	peak := 0.0
	for _, p := range pts {
		peak = max(peak, p.PerSec)
	}
	c.Now, c.Peak = humanRate(pts[len(pts)-1].PerSec), humanRate(peak)
	c.Span = "last " + pts[len(pts)-1].At.Sub(pts[0].At).Round(time.Second).String()
	return c
}

// overviewJSON serves the overview's numbers for scripts and tests.
func (s *Server) overviewJSON(w http.ResponseWriter, _ *http.Request) {
	snap, err := s.snapshot()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"cluster_id": snap.meta.Cluster, "controller": snap.meta.Controller,
		"brokers": brokerRows(snap), "health": healthOf(snap), "snapshot_ms": snap.took.Milliseconds(),
		"snapshot_timings": snap.timings, "events": s.events.recent(50),
		"warnings": snap.warnings,
	})
}
