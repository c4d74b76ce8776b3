package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// replicaCell is one replica of a partition.
type replicaCell struct {
	ID        int32
	Leader    bool
	InISR     bool
	InELR     bool
	Reported  bool  // its broker's DescribeLogDirs listed it
	Size      int64 // bytes
	OffsetLag int64 // high watermark minus its log end offset
}

// partitionRow is one partition of the topic page.
type partitionRow struct {
	Partition    int32
	Leader       int32
	LeaderEpoch  int32
	Replicas     []replicaCell
	ISR          []int32
	ELR          []int32
	LastKnownELR []int32
	Start, End   int64 // log start offset and high watermark; -1 unknown
	Records      int64
	Trouble      string
	Err          string
}

type topicData struct {
	Name       string
	Internal   bool
	ID         string
	RF         int
	MinISR     int
	Size       int64
	Records    int64
	Partitions []partitionRow
	Configs    []configRow
	HasELR     bool
	Err        string // the topic's own error in Metadata (e.g. LEADER_NOT_AVAILABLE)
}

// topic renders one topic; a topic the cluster does not list is a 404
// (after one fresh look, so a topic just created is found).
func (s *Server) topic(_ context.Context, r *http.Request) (pageResult, error) {
	name := r.PathValue("name")
	snap, td, err := s.findTopic(name)
	if err != nil {
		return pageResult{}, err
	}
	row := topicRowOf(snap, td)
	d := topicData{Name: name, Internal: td.IsInternal, ID: td.ID.String(), RF: row.RF, MinISR: snap.minISR(name),
		Size: row.Size, Records: row.Records, Configs: sortedConfigRows(snap.configs[name]), Err: row.Err}
	_, d.HasELR = snap.elr[name]
	for _, p := range td.Partitions.Sorted() {
		d.Partitions = append(d.Partitions, partitionRowOf(snap, p, d.MinISR))
	}
	warnings := snap.warnings
	if err := snap.configErrs[name]; err != nil {
		warnings = slices.DeleteFunc(slices.Clone(warnings), func(w string) bool { return strings.HasPrefix(w, configsWarningPrefix) })
		warnings = append(warnings, configsWarning(name, err))
	}
	return pageResult{page: "topic", title: "Topic " + name, nav: "topics", live: true, data: d, warnings: warnings}, nil
}

// findTopic returns the snapshot and the topic's details; when the cached
// snapshot lacks the topic it looks once more at a fresh one.
func (s *Server) findTopic(name string) (*snapshot, kadm.TopicDetail, error) {
	for attempt := 0; ; attempt++ {
		snap, err := s.snapshot()
		if err != nil {
			return nil, kadm.TopicDetail{}, kafkaError("reading cluster metadata", err)
		}
		if topicExists(snap.meta.Topics, name) {
			return snap, snap.meta.Topics[name], nil
		}
		if attempt == 1 {
			return nil, kadm.TopicDetail{}, s.missingTopic(name)
		}
		s.snaps.invalidate()
	}
}

// missingTopic explains why the cluster lists no topic name: asked by
// name, Metadata answers TOPIC_AUTHORIZATION_FAILED for a topic the
// principal may not describe (whether or not it exists: Kafka does not
// tell), a 403; otherwise it is a 404.
func (s *Server) missingTopic(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	defer cancel()
	meta, err := s.adm.Metadata(ctx, name)
	if err == nil {
		err = meta.Topics[name].Err
	}
	if isAuthErr(err) {
		return forbidden("describe topic "+name, err)
	}
	return notFound("the cluster has no topic named " + strconvQuote(name))
}

func partitionRowOf(snap *snapshot, p kadm.PartitionDetail, minISR int) partitionRow {
	e := snap.elr[p.Topic][p.Partition]
	row := partitionRow{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
		ISR: sortedIDs(p.ISR), ELR: sortedIDs(e.ELR), LastKnownELR: e.LastKnownELR,
		Start: offsetOr(snap.start, p), End: offsetOr(snap.end, p), Trouble: partitionTrouble(p, minISR)}
	if p.Err != nil {
		row.Err = p.Err.Error()
	}
	row.Records = -1
	if row.Start >= 0 && row.End >= 0 {
		row.Records = max(0, row.End-row.Start)
	}
	for _, id := range p.Replicas {
		c := replicaCell{ID: id, Leader: id == p.Leader, InISR: slices.Contains(p.ISR, id), InELR: slices.Contains(e.ELR, id)}
		if rp, ok := snap.replicaSize(id, p.Topic, p.Partition); ok {
			c.Reported, c.Size, c.OffsetLag = true, rp.Size, rp.OffsetLag
		}
		row.Replicas = append(row.Replicas, c)
	}
	return row
}

// offsetOr returns the listed offset of p, or -1.
func offsetOr(lo kadm.ListedOffsets, p kadm.PartitionDetail) int64 {
	if o, ok := lo.Lookup(p.Topic, p.Partition); ok && o.Err == nil {
		return o.Offset
	}
	return -1
}

func pathEscape(s string) string { return url.PathEscape(s) }
