package controller

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// CreateTopic asks for one topic. NumPartitions and ReplicationFactor of
// -1 take the broker defaults; Assignments, when given, fix the replicas of
// each partition instead.
type CreateTopic struct {
	Name              string
	NumPartitions     int32
	ReplicationFactor int16
	Assignments       [][]int32
	Configs           map[string]string
	ValidateOnly      bool
}

// TopicResult is the outcome for one topic. Err is nil or a *kerr.Error
// (wrapped with a message).
type TopicResult struct {
	Name              string
	ID                metadata.UUID
	NumPartitions     int32
	ReplicationFactor int16
	Err               error
}

// CreateTopics creates topics: each is validated on its own, and every
// valid one is committed in one metadata entry (one Raft round for the
// whole request). A name given twice in one request is created once; the
// other mentions get INVALID_REQUEST.
func (c *Controller) CreateTopics(ctx context.Context, reqs []CreateTopic) ([]TopicResult, error) {
	return activeCmd(ctx, c, func() []TopicResult {
		out := make([]TopicResult, len(reqs))
		var recs []metadata.Record
		var created []int
		seen := map[string]bool{}
		for i, r := range reqs {
			out[i].Name = r.Name
			if seen[r.Name] {
				out[i].Err = fmt.Errorf("%w: topic %q given more than once", kerr.InvalidRequest, r.Name)
				continue
			}
			seen[r.Name] = true
			rs, err := c.topicRecords(r, &out[i])
			if out[i].Err = err; err == nil && !r.ValidateOnly {
				recs, created = append(recs, rs...), append(created, i)
			}
		}
		if _, err := c.commit(context.Background(), recs); err != nil {
			for _, i := range created {
				out[i].Err = err
			}
		}
		return out
	})
}

func (c *Controller) topicRecords(r CreateTopic, res *TopicResult) ([]metadata.Record, error) {
	if err := ValidateTopicName(r.Name); err != nil {
		return nil, err
	}
	if _, ok := c.image().Topic(r.Name); ok {
		return nil, fmt.Errorf("%w: topic %q already exists", kerr.TopicAlreadyExists, r.Name)
	}
	if err := config.ValidateTopic(r.Configs); err != nil {
		return nil, fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
	}
	assign, err := c.assignment(r)
	if err != nil {
		return nil, err
	}
	id := metadata.UUID(c.o.NewID())
	res.ID, res.NumPartitions, res.ReplicationFactor = id, int32(len(assign)), int16(len(assign[0]))
	recs := []metadata.Record{metadata.Topic{Name: r.Name, ID: id}}
	for p, replicas := range assign {
		recs = append(recs, newPartition(id, int32(p), replicas))
	}
	return append(recs, configRecords(r.Name, r.Configs)...), nil
}

func newPartition(id metadata.UUID, p int32, replicas []int32) metadata.Partition {
	return metadata.Partition{
		TopicID: id, Partition: p, Replicas: replicas,
		ISR: slices.Clone(replicas), Leader: replicas[0],
	}
}

func configRecords(topic string, cfgs map[string]string) []metadata.Record {
	names := make([]string, 0, len(cfgs))
	for k := range cfgs {
		names = append(names, k)
	}
	sort.Strings(names)
	recs := make([]metadata.Record, 0, len(names))
	for _, k := range names {
		v := cfgs[k]
		recs = append(recs, metadata.Config{ResourceType: metadata.ResourceTopic, ResourceName: topic, Name: k, Value: &v})
	}
	return recs
}

// assignment returns the replicas of every partition.
func (c *Controller) assignment(r CreateTopic) ([][]int32, error) {
	if len(r.Assignments) > 0 {
		if r.NumPartitions != -1 || r.ReplicationFactor != -1 {
			return nil, fmt.Errorf("%w: both partition count/replication factor and replica assignments were given", kerr.InvalidRequest)
		}
		return r.Assignments, c.checkAssignments(r.Assignments)
	}
	n, rf := r.NumPartitions, r.ReplicationFactor
	if n == -1 {
		n = int32(c.o.Config.Int("num.partitions"))
	}
	if rf == -1 {
		rf = int16(c.o.Config.Int("default.replication.factor"))
	}
	if n <= 0 {
		return nil, fmt.Errorf("%w: number of partitions must be larger than 0", kerr.InvalidPartitions)
	}
	if rf <= 0 {
		return nil, fmt.Errorf("%w: replication factor must be larger than 0", kerr.InvalidReplicationFactor)
	}
	return c.usablePlacer().placeNew(c.placementRand(), int(n), int(rf))
}

func (c *Controller) checkAssignments(as [][]int32) error {
	for p, replicas := range as {
		if len(replicas) == 0 || len(replicas) != len(as[0]) {
			return fmt.Errorf("%w: partition %d has %d replicas", kerr.InvalidReplicaAssignment, p, len(replicas))
		}
		seen := map[int32]bool{}
		for _, b := range replicas {
			if _, ok := c.image().Brokers[b]; !ok || seen[b] {
				return fmt.Errorf("%w: partition %d: broker %d unknown or repeated", kerr.InvalidReplicaAssignment, p, b)
			}
			seen[b] = true
		}
	}
	return nil
}

// ValidateTopicName applies Kafka's rules: 1 to 249 characters of
// [a-zA-Z0-9._-], not "." or "..".
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: topic name is illegal, it can't be empty", kerr.InvalidTopicException)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name cannot be \".\" or \"..\"", kerr.InvalidTopicException)
	case len(name) > 249:
		return fmt.Errorf("%w: topic name is longer than 249 characters", kerr.InvalidTopicException)
	}
	for _, ch := range name {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			return fmt.Errorf("%w: topic name %q contains a character other than ASCII alphanumerics, '.', '_' and '-'", kerr.InvalidTopicException, name)
		}
	}
	return nil
}

// DeleteTopics deletes topics by name; unknown ones get UNKNOWN_TOPIC_OR_PARTITION.
func (c *Controller) DeleteTopics(ctx context.Context, names []string) ([]TopicResult, error) {
	return activeCmd(ctx, c, func() []TopicResult {
		out := make([]TopicResult, len(names))
		for i, name := range names {
			out[i] = TopicResult{Name: name}
			t, ok := c.image().Topic(name)
			if !ok {
				out[i].Err = kerr.UnknownTopicOrPartition
				continue
			}
			out[i].ID = t.ID
			_, out[i].Err = c.commit(context.Background(), []metadata.Record{metadata.RemoveTopic{TopicID: t.ID}})
		}
		return out
	})
}

// CreatePartitions grows a topic to count partitions.
type CreatePartitions struct {
	Name         string
	Count        int32
	Assignments  [][]int32
	ValidateOnly bool
}

// CreatePartitions adds partitions to existing topics.
func (c *Controller) CreatePartitions(ctx context.Context, reqs []CreatePartitions) ([]TopicResult, error) {
	return activeCmd(ctx, c, func() []TopicResult {
		out := make([]TopicResult, len(reqs))
		for i, r := range reqs {
			out[i] = TopicResult{Name: r.Name, Err: c.createPartitions(r)}
		}
		return out
	})
}

func (c *Controller) createPartitions(r CreatePartitions) error {
	t, ok := c.image().Topic(r.Name)
	if !ok {
		return kerr.UnknownTopicOrPartition
	}
	have := int32(len(t.Partitions))
	if r.Count <= have {
		return fmt.Errorf("%w: topic currently has %d partitions, %d would not be an increase", kerr.InvalidPartitions, have, r.Count)
	}
	rf := len(t.Partitions[0].Replicas)
	var assign [][]int32
	var err error
	if len(r.Assignments) > 0 {
		if int32(len(r.Assignments)) != r.Count-have {
			return fmt.Errorf("%w: %d assignments for %d new partitions", kerr.InvalidReplicaAssignment, len(r.Assignments), r.Count-have)
		}
		assign, err = r.Assignments, c.checkAssignments(r.Assignments)
	} else {
		assign, err = c.usablePlacer().placeMore(c.placementRand(), int(have), int(r.Count-have), rf, t.Partitions[0].Replicas[0])
	}
	if err != nil || r.ValidateOnly {
		return err
	}
	recs := make([]metadata.Record, 0, len(assign))
	for i, replicas := range assign {
		recs = append(recs, newPartition(t.ID, have+int32(i), replicas))
	}
	_, err = c.commit(context.Background(), recs)
	return err
}
