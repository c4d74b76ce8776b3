package console

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerReplica is one replica hosted by the broker.
type brokerReplica struct {
	Topic     string
	Partition int32
	Leader    int32
	IsLeader  bool
	InISR     bool
	Reported  bool
	Size      int64
	OffsetLag int64
	Dir       string
}

// logDirRow is one log directory of the broker.
type logDirRow struct {
	Dir           string
	Size          int64
	Total, Usable int64
	Partitions    int
	Cordoned      bool
	Err           string
}

// brokerTopic sums the broker's replicas of one topic.
type brokerTopic struct {
	Topic                       string
	Replicas, Leaders, OutOfISR int
	Size                        int64
}

type brokerData struct {
	Broker   brokerRow
	Topics   []brokerTopic   // per topic, by name
	Lagging  []brokerReplica // replicas out of the ISR or behind the high watermark
	Replicas int
	LogDirs  []logDirRow
	Configs  []configRow // set on the broker or cluster-wide (not defaults)
	Defaults int         // configs left at their defaults
	ConfErr  string
}

// broker renders one broker by node id; an id no broker list, partition or
// quorum names is a 404.
func (s *Server) broker(ctx context.Context, r *http.Request) (pageResult, error) {
	raw := r.PathValue("id")
	id64, err := strconv.ParseInt(raw, 10, 32)
	if err != nil || id64 < 0 {
		return pageResult{}, badRequest("broker id must be a node id (a whole number from 0 to 2147483647), not %q", raw)
	}
	id := int32(id64)
	snap, err := s.snapshot()
	if err != nil {
		return pageResult{}, kafkaError("reading cluster metadata", err)
	}
	rows := brokerRows(snap)
	i := slices.IndexFunc(rows, func(b brokerRow) bool { return b.ID == id })
	if i < 0 {
		return pageResult{}, notFound("the cluster has no broker " + raw)
	}
	d := brokerData{Broker: rows[i], LogDirs: logDirRows(snap.logDirs[id])}
	d.summarize(brokerReplicas(snap, id))
	s.brokerConfigs(ctx, &d)
	return pageResult{page: "broker", title: "Broker " + raw, nav: "overview", live: true, data: d, warnings: snap.warnings}, nil
}

func brokerReplicas(snap *snapshot, id int32) []brokerReplica {
	var out []brokerReplica
	snap.meta.Topics.EachPartition(func(p kadm.PartitionDetail) {
		if !slices.Contains(p.Replicas, id) {
			return
		}
		br := brokerReplica{Topic: p.Topic, Partition: p.Partition, Leader: p.Leader, IsLeader: p.Leader == id,
			InISR: slices.Contains(p.ISR, id)}
		if rp, ok := snap.replicaSize(id, p.Topic, p.Partition); ok {
			br.Reported, br.Size, br.OffsetLag, br.Dir = true, rp.Size, rp.OffsetLag, rp.Dir
		}
		out = append(out, br)
	})
	slices.SortFunc(out, func(a, b brokerReplica) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

// summarize fills the per-topic sums and the lagging replicas (the
// page lists topics, not thousands of replicas).
func (d *brokerData) summarize(rs []brokerReplica) {
	d.Replicas = len(rs)
	for _, r := range rs {
		if n := len(d.Topics); n == 0 || d.Topics[n-1].Topic != r.Topic {
			d.Topics = append(d.Topics, brokerTopic{Topic: r.Topic})
		}
		bt := &d.Topics[len(d.Topics)-1]
		bt.Replicas++
		bt.Size += r.Size
		if r.IsLeader {
			bt.Leaders++
		}
		if !r.InISR {
			bt.OutOfISR++
		}
		if (!r.InISR || r.OffsetLag > 0) && len(d.Lagging) < 500 {
			d.Lagging = append(d.Lagging, r)
		}
	}
}

func logDirRows(dirs kadm.DescribedLogDirs) []logDirRow {
	var out []logDirRow
	for _, d := range dirs {
		row := logDirRow{Dir: d.Dir, Size: d.Size(), Total: d.TotalBytes, Usable: d.UsableBytes, Cordoned: d.IsCordoned}
		for _, ps := range d.Topics {
			row.Partitions += len(ps)
		}
		if d.Err != nil {
			row.Err = d.Err.Error()
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b logDirRow) int { return strings.Compare(a.Dir, b.Dir) })
	return out
}

// brokerConfigs fills the broker's non-default configs (one
// DescribeConfigs to that broker); a failure is shown, not fatal.
func (s *Server) brokerConfigs(ctx context.Context, d *brokerData) {
	if !d.Broker.Up {
		d.ConfErr = "the broker is not up"
		return
	}
	rcs, err := s.adm.DescribeBrokerConfigs(ctx, d.Broker.ID)
	if err == nil && len(rcs) > 0 && rcs[0].Err != nil {
		err = rcs[0].Err
	}
	if err != nil {
		d.ConfErr = err.Error()
		if isAuthErr(err) {
			d.ConfErr = deniedText("describe the broker's configs", err)
		}
		return
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Source == kmsg.ConfigSourceDefaultConfig {
				d.Defaults++
				continue
			}
			d.Configs = append(d.Configs, configRowOf(c))
		}
	}
	slices.SortFunc(d.Configs, func(a, b configRow) int { return strings.Compare(a.Key, b.Key) })
}
