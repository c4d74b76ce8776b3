package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicRow is one topic in the list.
type topicRow struct {
	Name            string
	Internal        bool
	Partitions, RF  int
	Size            int64 // bytes over every replica; -1 unknown
	Records         int64 // end minus log start offsets, summed; -1 unknown
	UnderReplicated int
	Offline         int
	Overrides       []configRow // non-default configs
	Err             string
}

// configRow is one config entry.
type configRow struct {
	Key, Value, Source string
	Sensitive          bool
	Default            bool
}

type topicsData struct {
	Topics        []topicRow
	ShowInternal  bool
	DefaultRF     string
	TotalSize     int64
	TotalRecords  int64
	NumPartitions int
}

func (s *Server) topics(_ context.Context, r *http.Request) (pageResult, error) {
	snap, err := s.snapshot()
	if err != nil {
		return pageResult{}, kafkaError("reading cluster metadata", err)
	}
	d := topicsData{ShowInternal: r.URL.Query().Get("internal") == "1"}
	for _, td := range snap.meta.Topics.Sorted() {
		if td.IsInternal && !d.ShowInternal {
			continue
		}
		row := topicRowOf(snap, td)
		d.Topics = append(d.Topics, row)
		d.NumPartitions += row.Partitions
		d.TotalSize += max(0, row.Size)
		d.TotalRecords += max(0, row.Records)
	}
	return pageResult{page: "topics", title: "Topics", nav: "topics", live: true, data: d, warnings: snap.warnings}, nil
}

func topicRowOf(snap *snapshot, td kadm.TopicDetail) topicRow {
	row := topicRow{Name: td.Topic, Internal: td.IsInternal, Partitions: len(td.Partitions),
		RF: td.Partitions.NumReplicas(), Size: -1, Records: -1, Overrides: overrides(snap.configs[td.Topic])}
	if td.Err != nil {
		row.Err = td.Err.Error()
	}
	minISR := snap.minISR(td.Topic)
	for _, p := range td.Partitions {
		switch partitionTrouble(p, minISR) {
		case "offline":
			row.Offline++
			row.UnderReplicated++
		case "":
		default:
			row.UnderReplicated++
		}
		row.addSize(snap, p)
		row.addRecords(snap, p)
	}
	return row
}

func (row *topicRow) addSize(snap *snapshot, p kadm.PartitionDetail) {
	for _, id := range p.Replicas {
		if rp, ok := snap.replicaSize(id, p.Topic, p.Partition); ok {
			row.Size = max(row.Size, 0) + rp.Size
		}
	}
}

func (row *topicRow) addRecords(snap *snapshot, p kadm.PartitionDetail) {
	end, okE := snap.end.Lookup(p.Topic, p.Partition)
	start, okS := snap.start.Lookup(p.Topic, p.Partition)
	if okE && okS && end.Err == nil && start.Err == nil {
		row.Records = max(row.Records, 0) + max(0, end.Offset-start.Offset)
	}
}

// overrides returns the configs set on the topic itself.
func overrides(cs []kadm.Config) []configRow {
	var out []configRow
	for _, c := range cs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			out = append(out, configRowOf(c))
		}
	}
	return out
}

func configRowOf(c kadm.Config) configRow {
	row := configRow{Key: c.Key, Value: c.MaybeValue(), Sensitive: c.Sensitive,
		Source: sourceName(c.Source), Default: c.Source == kmsg.ConfigSourceDefaultConfig}
	if c.Sensitive {
		row.Value = "(sensitive)"
	}
	return row
}

func sourceName(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "topic"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "broker (dynamic)"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "cluster default (dynamic)"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "broker (static)"
	case kmsg.ConfigSourceDefaultConfig:
		return "default"
	}
	return strings.ToLower(s.String())
}

// ---- create ----

// createTopic creates the topic of the form: name, partitions, replication
// factor (-1 or empty: the broker default) and configs as key=value lines.
func (s *Server) createTopic(ctx context.Context, r *http.Request) (string, string, error) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		return "", "", badRequest("a topic needs a name")
	}
	parts, err := formInt(r, "partitions", -1, -1, 1_000_000)
	if err != nil {
		return "", "", err
	}
	rf, err := formInt(r, "replication", -1, -1, 32767)
	if err != nil {
		return "", "", err
	}
	configs, err := parseConfigLines(r.PostFormValue("configs"))
	if err != nil {
		return "", "", err
	}
	resp, err := s.adm.CreateTopic(ctx, int32(parts), int16(rf), configs, name)
	if err == nil {
		err = kafkaMsgErr(resp.Err, resp.ErrMessage)
	}
	if err != nil {
		return "", "", kafkaError("creating topic "+name, err)
	}
	s.awaitTopic(ctx, name, true)
	return "/topics/" + pathEscape(name), fmt.Sprintf("created topic %s", name), nil
}

// formInt reads an integer form field; empty gives def; it must lie in
// [lo, hi] and must not be 0.
func formInt(r *http.Request, key string, def, lo, hi int64) (int64, error) {
	v := strings.TrimSpace(r.PostFormValue(key))
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi || n == 0 {
		return 0, badRequest("%s must be a whole number from %d to %d other than 0 (got %q)", key, lo, hi, v)
	}
	return n, nil
}

// parseConfigLines reads key=value pairs, one a line or comma-separated;
// a key given twice is an error.
func parseConfigLines(s string) (map[string]*string, error) {
	out := map[string]*string{}
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' }) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, badRequest("config %q: want key=value", line)
		}
		if _, dup := out[k]; dup {
			return nil, badRequest("config %q given twice", k)
		}
		v = strings.TrimSpace(v)
		out[k] = &v
	}
	return out, nil
}

// kafkaMsgErr adds a response's error message to its error.
func kafkaMsgErr(err error, msg string) error {
	if err != nil && msg != "" && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return err
}

// ---- delete ----

// deleteTopic deletes the topic of the URL; the form must repeat the
// topic's name in "confirm".
func (s *Server) deleteTopic(ctx context.Context, r *http.Request) (string, string, error) {
	name := r.PathValue("name")
	if r.PostFormValue("confirm") != name {
		return "", "", badRequest("type the topic's name to confirm deleting %s", name)
	}
	resp, err := s.adm.DeleteTopic(ctx, name)
	if err == nil {
		err = kafkaMsgErr(resp.Err, resp.ErrMessage)
	}
	if err != nil {
		return "", "", kafkaError("deleting topic "+name, err)
	}
	s.awaitTopic(ctx, name, false)
	return "/topics", "deleted topic " + name, nil
}

// awaitTopic waits (at most 3 s, and within ctx) until Metadata from the
// brokers shows the topic present or gone, so that the page a form
// redirects to shows the change: the broker answering Metadata may apply
// the controller's change a moment after the controller answered.
func (s *Server) awaitTopic(ctx context.Context, name string, present bool) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if td, err := s.adm.ListTopicsWithInternal(freshMetadata(ctx), name); err == nil && topicExists(td, name) == present {
			return
		}
		select {
		case <-ctx.Done():
			s.logger.Warn("console: topic change not yet visible in Metadata", "topic", name, "present", present)
			return
		case <-t.C:
		}
	}
}

// topicExists reports whether Metadata lists topic: with no error, or an
// error other than UNKNOWN_TOPIC_OR_PARTITION (a new topic's partitions
// may have no leader yet: LEADER_NOT_AVAILABLE).
func topicExists(td kadm.TopicDetails, name string) bool {
	d, ok := td[name]
	return ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition)
}

// ---- configs ----

// alterTopicConfig sets (op=set) or removes (op=delete) one topic config
// with IncrementalAlterConfigs.
func (s *Server) alterTopicConfig(ctx context.Context, r *http.Request) (string, string, error) {
	name := r.PathValue("name")
	key := strings.TrimSpace(r.PostFormValue("key"))
	if key == "" {
		return "", "", badRequest("a config change needs a key")
	}
	ac := kadm.AlterConfig{Name: key}
	msg := "removed " + key
	switch r.PostFormValue("op") {
	case "set", "":
		v := r.PostFormValue("value")
		ac.Value, msg = &v, fmt.Sprintf("set %s=%s", key, v)
	case "delete":
		ac.Op = kadm.DeleteConfig
	default:
		return "", "", badRequest("op must be set or delete")
	}
	resps, err := s.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{ac}, name)
	if err == nil {
		for _, rr := range resps {
			if err = kafkaMsgErr(rr.Err, rr.ErrMessage); err != nil {
				break
			}
		}
	}
	if err != nil {
		return "", "", kafkaError("changing "+key+" of "+name, err)
	}
	return "/topics/" + pathEscape(name), msg, nil
}

func sortedConfigRows(cs []kadm.Config) []configRow {
	out := make([]configRow, 0, len(cs))
	for _, c := range cs {
		out = append(out, configRowOf(c))
	}
	slices.SortFunc(out, func(a, b configRow) int { return strings.Compare(a.Key, b.Key) })
	return out
}
