package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Config operations of IncrementalAlterConfigs, numbered as in Kafka.
const (
	OpSet      int8 = 0
	OpDelete   int8 = 1
	OpAppend   int8 = 2
	OpSubtract int8 = 3
)

// ConfigOp is one incremental change to a config.
type ConfigOp struct {
	Name  string
	Op    int8
	Value string
}

// AlterConfigs changes one resource's configs. With Incremental false the
// ops are a full replacement (the legacy AlterConfigs API): every config
// not named is removed.
type AlterConfigs struct {
	ResourceType int8
	ResourceName string
	Ops          []ConfigOp
	Incremental  bool
	ValidateOnly bool
}

// AlterConfigs applies config changes to topics and brokers (see
// alterBrokerConfigs). Each resource succeeds or
// fails as a whole; the changes of every resource, with the unclean
// elections they enable, are committed in one entry. Each resource is
// decided on the image the earlier ones leave (a topic named twice gets
// both changes, in order).
func (c *Controller) AlterConfigs(ctx context.Context, reqs []AlterConfigs) ([]error, error) {
	return decide(ctx, c, func(t *txn) ([]error, error) {
		out := make([]error, len(reqs))
		for i, r := range reqs {
			n := len(t.recs)
			if out[i] = c.alterConfigs(t, r); out[i] == nil && len(t.recs) > n {
				t.failsWith(&out[i])
			}
		}
		return out, nil
	})
}

// alterConfigs decides one resource's change and, on the image with the
// new config, the unclean elections it enables.
func (c *Controller) alterConfigs(t *txn, r AlterConfigs) error {
	switch r.ResourceType {
	case metadata.ResourceBroker:
		return c.alterBrokerConfigs(t, r)
	case metadata.ResourceTopic:
	default:
		return fmt.Errorf("%w: unknown resource type %d", kerr.InvalidRequest, r.ResourceType)
	}
	img := t.image()
	if _, ok := img.Topic(r.ResourceName); !ok {
		return fmt.Errorf("%w: topic %q", kerr.UnknownTopicOrPartition, r.ResourceName)
	}
	old := img.TopicConfig(r.ResourceName)
	next, err := applyOps(old, r)
	if err != nil {
		return err
	}
	if err := config.ValidateTopic(next); err != nil {
		return fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
	}
	if r.ValidateOnly {
		return nil
	}
	t.add(diffConfigs(metadata.ResourceTopic, r.ResourceName, old, next)...)
	t.add(c.electUncleanNow(t.image(), r.ResourceName)...)
	return nil
}

// electUncleanNow makes unclean.leader.election.enable take effect at once:
// when it is true in img, every leaderless partition of the topic with a
// usable replica gets a leader.
func (c *Controller) electUncleanNow(img *metadata.Image, topic string) []metadata.Record {
	if !c.uncleanEnabled(img, topic) {
		return nil
	}
	t, _ := img.Topic(topic)
	ok := usable(img, -1)
	var recs []metadata.Record
	for i, p := range t.Partitions {
		if p.Leader != -1 {
			continue
		}
		if ch, changed := electLeaderless(t.ID, int32(i), p, ok, true); changed {
			recs = append(recs, ch)
		}
	}
	return recs
}

func applyOps(old map[string]string, r AlterConfigs) (map[string]string, error) {
	return applyOpsWith(old, r, func(name string) (config.Def, error) {
		d, ok := config.LookupTopic(name)
		if !ok {
			return config.Def{}, fmt.Errorf("%w: unknown topic config name: %s", kerr.InvalidConfig, name)
		}
		return d.Def, nil
	})
}

// applyOpsWith applies r's operations to a copy of old (to an empty set
// when r is not incremental); lookup returns a config's definition, or
// the error for an unknown name. As in Kafka, APPEND and SUBTRACT on a
// list config not set start from its default (cleanup.policy: delete).
func applyOpsWith(old map[string]string, r AlterConfigs, lookup func(string) (config.Def, error)) (map[string]string, error) {
	next := maps.Clone(old)
	if !r.Incremental || next == nil {
		next = map[string]string{}
	}
	for _, op := range r.Ops {
		d, err := lookup(op.Name)
		if err != nil {
			return nil, err
		}
		switch op.Op {
		case OpSet:
			next[op.Name] = op.Value
		case OpDelete:
			delete(next, op.Name)
		case OpAppend, OpSubtract:
			if d.Type != config.TypeList {
				return nil, fmt.Errorf("%w: config %s is not a list", kerr.InvalidConfig, op.Name)
			}
			cur, ok := next[op.Name]
			if !ok {
				cur = d.Default
			}
			next[op.Name] = editList(cur, op)
		default:
			return nil, fmt.Errorf("%w: unknown config operation %d", kerr.InvalidRequest, op.Op)
		}
	}
	return next, nil
}

func editList(cur string, op ConfigOp) string {
	var items []string
	for _, s := range strings.Split(cur, ",") {
		if s = strings.TrimSpace(s); s != "" {
			items = append(items, s)
		}
	}
	for _, v := range strings.Split(op.Value, ",") {
		v = strings.TrimSpace(v)
		has := slices.Contains(items, v)
		if op.Op == OpAppend && !has {
			items = append(items, v)
		} else if op.Op == OpSubtract && has {
			items = slices.DeleteFunc(items, func(s string) bool { return s == v })
		}
	}
	return strings.Join(items, ",")
}

// diffConfigs returns the Config records that turn a resource's configs
// from old into next.
func diffConfigs(typ int8, name string, old, next map[string]string) []metadata.Record {
	var recs []metadata.Record
	for _, k := range slices.Sorted(maps.Keys(old)) {
		if _, ok := next[k]; !ok {
			recs = append(recs, metadata.Config{ResourceType: typ, ResourceName: name, Name: k})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(next)) {
		if v, ok := old[k]; !ok || v != next[k] {
			val := next[k]
			recs = append(recs, metadata.Config{ResourceType: typ, ResourceName: name, Name: k, Value: &val})
		}
	}
	return recs
}
