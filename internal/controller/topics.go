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
// other mentions get INVALID_REQUEST. Every topic is decided on the image
// the request started from: an earlier topic of the request changes
// nothing a later one's validation or placement reads (brokers), names
// aside, which seen covers; so no scratch image is built for it.
func (c *Controller) CreateTopics(ctx context.Context, reqs []CreateTopic) ([]TopicResult, error) {
	return decide(ctx, c, func(t *txn) ([]TopicResult, error) {
		img := t.image()
		out := make([]TopicResult, len(reqs))
		seen := map[string]bool{}
		for i, r := range reqs {
			out[i].Name = r.Name
			if seen[r.Name] {
				out[i].Err = fmt.Errorf("%w: topic %q given more than once", kerr.InvalidRequest, r.Name)
				continue
			}
			seen[r.Name] = true
			rs, err := c.topicRecords(img, r, &out[i])
			if out[i].Err = err; err == nil && !r.ValidateOnly {
				t.add(rs...)
				t.failsWith(&out[i].Err)
			}
		}
		return out, nil
	})
}

// topicRecords validates one topic against img and returns its records.
func (c *Controller) topicRecords(img *metadata.Image, r CreateTopic, res *TopicResult) ([]metadata.Record, error) {
	if err := ValidateTopicName(r.Name); err != nil {
		return nil, err
	}
	if _, ok := img.Topic(r.Name); ok {
		return nil, fmt.Errorf("%w: topic %q already exists", kerr.TopicAlreadyExists, r.Name)
	}
	if err := config.ValidateTopic(r.Configs); err != nil {
		return nil, fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
	}
	assign, err := c.assignment(img, r)
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

// assignment returns the replicas of every partition, on img's brokers.
func (c *Controller) assignment(img *metadata.Image, r CreateTopic) ([][]int32, error) {
	if len(r.Assignments) > 0 {
		if r.NumPartitions != -1 || r.ReplicationFactor != -1 {
			return nil, fmt.Errorf("%w: both partition count/replication factor and replica assignments were given", kerr.InvalidRequest)
		}
		return r.Assignments, checkAssignments(img, r.Assignments)
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
	return usablePlacer(img).placeNew(c.placementRand(), int(n), int(rf))
}

// checkAssignments checks that every partition has as many replicas as
// the first, each a distinct broker registered in img.
func checkAssignments(img *metadata.Image, as [][]int32) error {
	for p, replicas := range as {
		if len(replicas) == 0 || len(replicas) != len(as[0]) {
			return fmt.Errorf("%w: partition %d has %d replicas", kerr.InvalidReplicaAssignment, p, len(replicas))
		}
		seen := map[int32]bool{}
		for _, b := range replicas {
			if _, ok := img.Brokers[b]; !ok || seen[b] {
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

// DeleteTopics deletes topics by name, in one entry; unknown ones get
// UNKNOWN_TOPIC_OR_PARTITION. Names are looked up in the image the request
// started from; a name given twice is deleted once, and its second mention
// finds it gone (as when each deletion was an entry of its own).
func (c *Controller) DeleteTopics(ctx context.Context, names []string) ([]TopicResult, error) {
	return decide(ctx, c, func(t *txn) ([]TopicResult, error) {
		img := t.image()
		out := make([]TopicResult, len(names))
		removed := map[string]bool{}
		for i, name := range names {
			out[i] = TopicResult{Name: name}
			top, ok := img.Topic(name)
			if !ok || removed[name] {
				out[i].Err = kerr.UnknownTopicOrPartition
				continue
			}
			removed[name], out[i].ID = true, top.ID
			t.add(metadata.RemoveTopic{TopicID: top.ID})
			t.failsWith(&out[i].Err)
		}
		return out, nil
	})
}

// CreatePartitions grows a topic to count partitions.
type CreatePartitions struct {
	Name         string
	Count        int32
	Assignments  [][]int32
	ValidateOnly bool
}

// CreatePartitions adds partitions to existing topics, in one entry. Each
// item is decided on the image the earlier ones leave (a topic named twice
// grows twice, or the second fails as no increase).
func (c *Controller) CreatePartitions(ctx context.Context, reqs []CreatePartitions) ([]TopicResult, error) {
	return decide(ctx, c, func(t *txn) ([]TopicResult, error) {
		out := make([]TopicResult, len(reqs))
		for i, r := range reqs {
			n := len(t.recs)
			out[i] = TopicResult{Name: r.Name, Err: c.createPartitions(t, r)}
			if len(t.recs) > n {
				t.failsWith(&out[i].Err)
			}
		}
		return out, nil
	})
}

// createPartitions decides one item on t's current image.
func (c *Controller) createPartitions(t *txn, r CreatePartitions) error {
	img := t.image()
	top, ok := img.Topic(r.Name)
	if !ok {
		return kerr.UnknownTopicOrPartition
	}
	have := int32(len(top.Partitions))
	for i, p := range top.Partitions {
		if p.Reassigning() {
			return fmt.Errorf("%w: partition %d of topic %q is being reassigned", kerr.ReassignmentInProgress, i, r.Name)
		}
	}
	if r.Count <= have {
		return fmt.Errorf("%w: topic currently has %d partitions, %d would not be an increase", kerr.InvalidPartitions, have, r.Count)
	}
	rf := len(top.Partitions[0].Replicas)
	var assign [][]int32
	var err error
	if len(r.Assignments) > 0 {
		if int32(len(r.Assignments)) != r.Count-have {
			return fmt.Errorf("%w: %d assignments for %d new partitions", kerr.InvalidReplicaAssignment, len(r.Assignments), r.Count-have)
		}
		assign, err = r.Assignments, checkAssignments(img, r.Assignments)
	} else {
		assign, err = usablePlacer(img).placeMore(c.placementRand(), int(have), int(r.Count-have), rf, top.Partitions[0].Replicas[0])
	}
	if err != nil || r.ValidateOnly {
		return err
	}
	recs := make([]metadata.Record, 0, len(assign))
	for i, replicas := range assign {
		recs = append(recs, newPartition(top.ID, have+int32(i), replicas))
	}
	t.add(recs...)
	return nil
}
