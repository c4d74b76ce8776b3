package main

// Running a plan of `fjord cluster rebalance` and `fjord broker drain`:
// gather the cluster's state into a planInput, print the plan, and
// execute it through AlterPartitionReassignments, with throttles,
// bounded partitions in flight, waiting, preferred leader elections and
// clearing the throttles at the end.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const cordonConfig = "cordoned.log.dirs"

// planScope selects what a plan covers.
type planScope struct {
	topics          []string // none: all
	excludeInternal bool
	vacate          []int32
	balance         bool
}

// clusterState is what a plan is made from.
type clusterState struct {
	ca       clusterAssignment
	cordoned map[int32]bool
}

// loadClusterState reads the assignment, the cordoned brokers, and
// refuses while reassignments are in progress (the metadata then lists
// the union of old and new replicas).
func loadClusterState(ctx context.Context, cl *kgo.Client, adm *kadm.Client, reqTimeout time.Duration) (clusterState, error) {
	rctx, cancel := context.WithTimeout(ctx, reqTimeout)
	defer cancel()
	busy, err := listReassigning(rctx, cl, nil)
	if err != nil {
		return clusterState{}, err
	}
	if len(busy) > 0 {
		return clusterState{}, fmt.Errorf("%d partition reassignments are in progress (e.g. %s): let them finish or cancel them first", len(busy), someKey(busy))
	}
	ca, err := loadAssignment(rctx, adm)
	if err != nil {
		return clusterState{}, err
	}
	cs := clusterState{ca: ca, cordoned: map[int32]bool{}}
	live := ca.liveBrokers()
	if len(live) == 0 {
		return cs, nil
	}
	rcs, err := adm.DescribeBrokerConfigs(rctx, live...)
	if err != nil {
		return cs, fmt.Errorf("describing broker configs: %w", err)
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == cordonConfig && c.Value != nil && strings.TrimSpace(*c.Value) != "" {
				var id int32
				if _, err := fmt.Sscan(rc.Name, &id); err == nil {
					cs.cordoned[id] = true
				}
			}
		}
	}
	return cs, nil
}

func someKey(m map[tpKey]bool) string {
	var names []string
	for k := range m {
		names = append(names, fmt.Sprintf("%s-%d", k.topic, k.partition))
	}
	slices.Sort(names)
	return names[0]
}

// planInput builds the planner's input for scope.
func (cs clusterState) planInput(s planScope) planInput {
	in := planInput{Racks: cs.ca.racks(), Vacate: s.vacate, Balance: s.balance}
	for _, id := range cs.ca.liveBrokers() {
		if !cs.cordoned[id] && !slices.Contains(s.vacate, id) {
			in.Targets = append(in.Targets, id)
		}
	}
	for _, td := range cs.ca.md.Topics {
		if td.Err != nil || (s.excludeInternal && td.IsInternal) || (len(s.topics) > 0 && !slices.Contains(s.topics, td.Topic)) {
			continue
		}
		for _, pd := range td.Partitions {
			in.Partitions = append(in.Partitions, planPartition{Topic: td.Topic, Partition: pd.Partition,
				Replicas: slices.Clone(pd.Replicas), Pinned: pd.Leader < 0})
		}
	}
	return in
}

// writePlan prints a plan: the brokers' counts before and after, the
// summary, each partition's change and what cannot move.
func writePlan(w io.Writer, p plan) {
	fmt.Fprintln(w, "Brokers (replicas and preferred leaders, before -> after):")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "BROKER\tRACK\tREPLICAS\tLEADERS\tIN\tOUT\tSTATE")
	for _, b := range p.Brokers {
		rack := b.Rack
		if rack == "" {
			rack = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d -> %d\t%d -> %d\t%d\t%d\t%s\n", b.ID, rack, b.Replicas, b.ReplicasAfter,
			b.Leaders, b.LeadersAfter, b.In, b.Out, brokerState(b))
	}
	tw.Flush()
	moved := 0
	for _, m := range p.Moves {
		if m.moved() {
			moved++
		}
	}
	if len(p.Moves) == 0 {
		fmt.Fprintln(w, "Nothing to change.")
	} else {
		fmt.Fprintf(w, "Plan: %d %s of %d %s move; %d more %s only change preferred leader.\n",
			p.movedReplicas(), plural(p.movedReplicas(), "replica"), moved, plural(moved, "partition"),
			len(p.Moves)-moved, plural(len(p.Moves)-moved, "partition"))
		fmt.Fprintln(w, "Partitions (replicas before -> after):")
		for _, m := range p.Moves {
			fmt.Fprintf(w, "  %s-%d\t%s -> %s\n", m.Topic, m.Partition, joinIDs(m.From), joinIDs(m.To))
		}
		fmt.Fprintf(w, "Proposed partition reassignment configuration\n%s\n", formatReassignJSON(p.targets()))
	}
	for _, s := range p.Stuck {
		why := "no broker can take its replica"
		if s.Pinned {
			why = "it has no leader"
		}
		fmt.Fprintf(w, "Cannot move %s-%d (replicas %s): %s.\n", s.Topic, s.Partition, joinIDs(s.Replicas), why)
	}
}

func brokerState(b brokerCount) string {
	switch {
	case b.Vacated:
		return "draining"
	case b.Unknown:
		return "offline"
	case !b.Target:
		return "cordoned"
	}
	return "ok"
}

// execOpts are the execution flags shared by rebalance and drain.
type execOpts struct {
	dryRun      bool
	wait        bool
	throttle    int64 // bytes/s; -1: none
	maxInFlight int
	reqTimeout  time.Duration
	poll        time.Duration
}

// check refuses flag combinations that cannot work.
func (o execOpts) check() error {
	if o.throttle >= 0 && !o.wait && !o.dryRun {
		return errors.New("--throttle needs --wait: the throttles are cleared when the moves complete")
	}
	if o.maxInFlight < 1 {
		return errors.New("--max-in-flight must be at least 1")
	}
	return nil
}

// executePlan carries out p (printed first) as o says.
func executePlan(ctx context.Context, cl *kgo.Client, adm *kadm.Client, w io.Writer, p plan, o execOpts) error {
	writePlan(w, p)
	if o.dryRun {
		fmt.Fprintln(w, "Dry run: nothing changed.")
		return nil
	}
	if len(p.Moves) == 0 {
		return nil
	}
	current := make([]reassignEntry, len(p.Moves))
	for i, m := range p.Moves {
		current[i] = reassignEntry{Topic: m.Topic, Partition: m.Partition, Replicas: m.From}
	}
	writeRollback(w, current)
	if !o.wait {
		rctx, cancel := context.WithTimeout(ctx, o.reqTimeout)
		defer cancel()
		started, err := alterAssignments(rctx, adm, p.targets())
		fmt.Fprintf(w, "Started the reassignments of %d partitions; preferred leaders follow with the controller's automatic leader rebalance (or rerun with --wait).\n", len(started))
		return err
	}
	tp := planThrottles(p.Moves)
	if o.throttle >= 0 {
		rctx, cancel := context.WithTimeout(ctx, o.reqTimeout)
		err := setThrottles(rctx, adm, tp, o.throttle)
		cancel()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "The inter-broker throttle limit was set to %d B/s on brokers %s\n", o.throttle, joinIDs(tp.brokers))
	}
	if err := runMoves(ctx, cl, adm, w, p, o); err != nil {
		return fmt.Errorf("%w (the started reassignments go on: follow them, and clear the throttles, with fjord reassign verify on the proposed configuration above)", err)
	}
	electPreferred(ctx, adm, w, p, o.reqTimeout)
	if o.throttle < 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, o.reqTimeout)
	defer cancel()
	if err := clearBrokerThrottles(rctx, adm, w, tp.brokers); err != nil {
		return err
	}
	return clearTopicThrottles(rctx, adm, w, tp.topics())
}

// runMoves submits p's moves keeping at most o.maxInFlight partitions
// reassigning, and waits until all completed. Reorders (no data moves)
// go first: they complete at once.
func runMoves(ctx context.Context, cl *kgo.Client, adm *kadm.Client, w io.Writer, p plan, o execOpts) error {
	var pending []reassignEntry
	for _, copies := range []bool{false, true} {
		for _, m := range p.Moves {
			if m.moved() == copies {
				pending = append(pending, reassignEntry{Topic: m.Topic, Partition: m.Partition, Replicas: m.To})
			}
		}
	}
	inflight := map[tpKey]reassignEntry{}
	total, done, lastDone := len(pending), 0, -1
	lastPrint := time.Time{}
	for len(pending) > 0 || len(inflight) > 0 {
		if n := min(o.maxInFlight-len(inflight), len(pending)); n > 0 {
			batch := pending[:n]
			pending = pending[n:]
			rctx, cancel := context.WithTimeout(ctx, o.reqTimeout)
			_, err := alterAssignments(rctx, adm, batch)
			cancel()
			if err != nil {
				return err
			}
			for _, e := range batch {
				inflight[tpKey{e.Topic, e.Partition}] = e
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the reassignments (%d of %d done): %w", done, total, ctx.Err())
		case <-time.After(o.poll):
		}
		entries := make([]reassignEntry, 0, len(inflight))
		for _, e := range inflight {
			entries = append(entries, e)
		}
		rctx, cancel := context.WithTimeout(ctx, o.reqTimeout)
		busy, err := listReassigning(rctx, cl, entries)
		cancel()
		if err != nil {
			return err
		}
		for k := range inflight {
			if !busy[k] {
				delete(inflight, k)
				done++
			}
		}
		if done != lastDone && (time.Since(lastPrint) > 5*time.Second || done == total) {
			fmt.Fprintf(w, "Reassignments: %d of %d partitions done, %d in progress\n", done, total, len(inflight))
			lastDone, lastPrint = done, time.Now()
		}
	}
	return nil
}

// electPreferred elects the preferred leaders of p's partitions; the
// failures are reported, not fatal (the controller's automatic leader
// rebalance retries them).
func electPreferred(ctx context.Context, adm *kadm.Client, w io.Writer, p plan, reqTimeout time.Duration) {
	set := kadm.TopicsSet{}
	for _, m := range p.Moves {
		set.Add(m.Topic, m.Partition)
	}
	rctx, cancel := context.WithTimeout(ctx, reqTimeout)
	defer cancel()
	rs, err := adm.ElectLeaders(rctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		fmt.Fprintf(w, "Warning: electing preferred leaders: %v\n", err)
		return
	}
	elected, failed := 0, 0
	for _, ps := range rs {
		for _, r := range ps {
			switch {
			case r.Err == nil:
				elected++
			case errors.Is(r.Err, kerr.ElectionNotNeeded):
			default:
				failed++
			}
		}
	}
	fmt.Fprintf(w, "Elected the preferred leaders of %d %s", elected, plural(elected, "partition"))
	if failed > 0 {
		fmt.Fprintf(w, " (%d failed; the automatic leader rebalance retries them)", failed)
	}
	fmt.Fprintln(w)
}
