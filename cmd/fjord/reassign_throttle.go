package main

// Replication throttles for reassignments, set and cleared as
// kafka-reassign-partitions does: the broker rates
// leader.replication.throttled.rate and follower.replication.throttled.rate
// on every broker a moving partition involves, and per topic the
// throttled replica lists: leader.replication.throttled.replicas names
// the current replicas of moving partitions (they serve the copies),
// follower.replication.throttled.replicas the replicas being added.

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	leaderRateConfig      = "leader.replication.throttled.rate"
	followerRateConfig    = "follower.replication.throttled.rate"
	leaderReplicasConfig  = "leader.replication.throttled.replicas"
	followerReplicaConfig = "follower.replication.throttled.replicas"
)

// throttlePair is one "partition:broker" entry of a throttled replica list.
type throttlePair struct{ partition, broker int32 }

// throttlePlan is what a set of moves throttles.
type throttlePlan struct {
	brokers  []int32                   // sorted
	leader   map[string][]throttlePair // topic → current replicas of moving partitions
	follower map[string][]throttlePair // topic → adding replicas
}

// topics returns the topics with throttled replicas, sorted.
func (tp throttlePlan) topics() []string {
	set := map[string]bool{}
	for t := range tp.leader {
		set[t] = true
	}
	for t := range tp.follower {
		set[t] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// planThrottles computes the throttles of moves; moves that only
// reorder replicas copy nothing and are left out.
func planThrottles(moves []planMove) throttlePlan {
	tp := throttlePlan{leader: map[string][]throttlePair{}, follower: map[string][]throttlePair{}}
	brokers := map[int32]bool{}
	for _, m := range moves {
		adding := without(m.To, m.From)
		if len(adding) == 0 {
			continue
		}
		for _, b := range m.From {
			tp.leader[m.Topic] = append(tp.leader[m.Topic], throttlePair{m.Partition, b})
			brokers[b] = true
		}
		for _, b := range adding {
			tp.follower[m.Topic] = append(tp.follower[m.Topic], throttlePair{m.Partition, b})
			brokers[b] = true
		}
	}
	tp.brokers = slices.Sorted(maps.Keys(brokers))
	return tp
}

// mergeThrottleList adds pairs to a throttled replica list value,
// keeping its other entries ("*" stays "*"). The result is sorted by
// partition, then broker.
func mergeThrottleList(existing string, pairs []throttlePair) string {
	if strings.TrimSpace(existing) == "*" {
		return "*"
	}
	set := map[throttlePair]bool{}
	var extra []string // entries we cannot parse are kept as they are
	for _, f := range strings.Split(existing, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, ok := parseThrottlePair(f); ok {
			set[p] = true
		} else if !slices.Contains(extra, f) {
			extra = append(extra, f)
		}
	}
	for _, p := range pairs {
		set[p] = true
	}
	all := slices.SortedFunc(maps.Keys(set), func(a, b throttlePair) int {
		return cmp.Or(cmp.Compare(a.partition, b.partition), cmp.Compare(a.broker, b.broker))
	})
	out := make([]string, 0, len(all)+len(extra))
	for _, p := range all {
		out = append(out, fmt.Sprintf("%d:%d", p.partition, p.broker))
	}
	return strings.Join(append(out, extra...), ",")
}

func parseThrottlePair(s string) (throttlePair, bool) {
	ps, bs, ok := strings.Cut(s, ":")
	p, err1 := strconv.ParseInt(strings.TrimSpace(ps), 10, 32)
	b, err2 := strconv.ParseInt(strings.TrimSpace(bs), 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return throttlePair{}, false
	}
	return throttlePair{int32(p), int32(b)}, true
}

// setThrottles sets rate on tp's brokers and adds tp's replica lists to
// the topics' configs.
func setThrottles(ctx context.Context, adm *kadm.Client, tp throttlePlan, rate int64) error {
	if len(tp.brokers) == 0 {
		return nil
	}
	v := kadm.StringPtr(strconv.FormatInt(rate, 10))
	rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: leaderRateConfig, Value: v},
		{Op: kadm.SetConfig, Name: followerRateConfig, Value: v},
	}, tp.brokers...)
	if err = alterErr("setting the broker throttles", rs, err); err != nil {
		return err
	}
	topics := tp.topics()
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return fmt.Errorf("describing the configs of %s: %w", strings.Join(topics, ","), err)
	}
	for _, t := range topics {
		if err := setTopicThrottle(ctx, adm, t, rcs, tp); err != nil {
			return err
		}
	}
	return nil
}

// setTopicThrottle merges tp's lists of topic t into its configs.
func setTopicThrottle(ctx context.Context, adm *kadm.Client, t string, rcs kadm.ResourceConfigs, tp throttlePlan) error {
	current := map[string]string{}
	if rc, err := rcs.On(t, nil); err == nil {
		for _, c := range rc.Configs {
			if c.Value != nil && c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				current[c.Key] = *c.Value
			}
		}
	}
	var ops []kadm.AlterConfig
	if ps := tp.leader[t]; len(ps) > 0 {
		ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: leaderReplicasConfig,
			Value: kadm.StringPtr(mergeThrottleList(current[leaderReplicasConfig], ps))})
	}
	if ps := tp.follower[t]; len(ps) > 0 {
		ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: followerReplicaConfig,
			Value: kadm.StringPtr(mergeThrottleList(current[followerReplicaConfig], ps))})
	}
	rs, err := adm.AlterTopicConfigs(ctx, ops, t)
	return alterErr("setting the throttled replicas of topic "+t, rs, err)
}

// clearBrokerThrottles deletes the throttle rates of brokers.
func clearBrokerThrottles(ctx context.Context, adm *kadm.Client, w io.Writer, brokers []int32) error {
	if len(brokers) == 0 {
		return nil
	}
	fmt.Fprintf(w, "Clearing broker-level throttles on brokers %s\n", joinIDs(brokers))
	rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.DeleteConfig, Name: leaderRateConfig},
		{Op: kadm.DeleteConfig, Name: followerRateConfig},
	}, brokers...)
	return alterErr("clearing the broker throttles", rs, err)
}

// clearTopicThrottles deletes the throttled replica lists of topics.
func clearTopicThrottles(ctx context.Context, adm *kadm.Client, w io.Writer, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	fmt.Fprintf(w, "Clearing topic-level throttles on %s\n", plural(len(topics), "topic")+" "+strings.Join(topics, ","))
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.DeleteConfig, Name: leaderReplicasConfig},
		{Op: kadm.DeleteConfig, Name: followerReplicaConfig},
	}, topics...)
	return alterErr("clearing the topic throttles", rs, err)
}

// alterErr folds an IncrementalAlterConfigs outcome into one error.
func alterErr(what string, rs kadm.AlterConfigsResponses, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, r := range rs {
		if r.Err != nil {
			return fmt.Errorf("%s (%s): %w", what, r.Name, kafkaErr(r.Err, r.ErrMessage))
		}
	}
	return nil
}
