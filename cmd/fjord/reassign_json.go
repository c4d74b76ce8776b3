package main

// The JSON files of kafka-reassign-partitions, read and written by
// `fjord reassign` (and printed by `fjord cluster rebalance`), and the
// deterministic placement of `fjord reassign generate`.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// reassignEntry is one partition of a reassignment file.
type reassignEntry struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs,omitempty"`
}

// name is the partition as Kafka's tool prints it: topic-partition.
func (e reassignEntry) name() string { return fmt.Sprintf("%s-%d", e.Topic, e.Partition) }

// reassignFile is the --reassignment-json-file format.
type reassignFile struct {
	Version    int             `json:"version"`
	Partitions []reassignEntry `json:"partitions"`
}

// topicsToMoveFile is the --topics-to-move-json-file format.
type topicsToMoveFile struct {
	Version int `json:"version"`
	Topics  []struct {
		Topic string `json:"topic"`
	} `json:"topics"`
}

// sortEntries orders entries by topic and partition.
func sortEntries(es []reassignEntry) {
	slices.SortFunc(es, cmpEntries)
}

// formatReassignJSON renders entries as kafka-reassign-partitions does:
// one line, partitions in topic and partition order, log_dirs "any".
func formatReassignJSON(entries []reassignEntry) string {
	es := make([]reassignEntry, len(entries))
	for i, e := range entries {
		e.Replicas = slices.Clip(append([]int32{}, e.Replicas...))
		e.LogDirs = make([]string, len(e.Replicas))
		for j := range e.LogDirs {
			e.LogDirs[j] = "any"
		}
		es[i] = e
	}
	sortEntries(es)
	b, err := json.Marshal(reassignFile{Version: 1, Partitions: es})
	if err != nil {
		panic(err) // plain structs always marshal
	}
	if len(es) == 0 {
		b = bytes.Replace(b, []byte("null"), []byte("[]"), 1)
	}
	return string(b)
}

// parseReassignJSON reads a reassignment file and checks it as Kafka's
// tool does: version 1, at least one partition, no partition twice, no
// broker twice in a partition, log_dirs (if given) one per replica and
// "any" (moving replicas between log dirs is not supported).
func parseReassignJSON(data []byte) ([]reassignEntry, error) {
	var f reassignFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parsing the reassignment JSON: %w", err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("unsupported reassignment JSON version %d (want 1)", f.Version)
	}
	if len(f.Partitions) == 0 {
		return nil, errors.New("the partition reassignment list is empty")
	}
	seen := map[string]bool{}
	for _, e := range f.Partitions {
		if err := checkEntry(e); err != nil {
			return nil, err
		}
		if seen[e.name()] {
			return nil, fmt.Errorf("partition %s is listed more than once", e.name())
		}
		seen[e.name()] = true
	}
	return f.Partitions, nil
}

// checkEntry checks one partition of a reassignment file.
func checkEntry(e reassignEntry) error {
	if e.Topic == "" || e.Partition < 0 {
		return fmt.Errorf("invalid partition %q %d in the reassignment JSON", e.Topic, e.Partition)
	}
	if len(e.Replicas) == 0 {
		return fmt.Errorf("partition %s has an empty replica list", e.name())
	}
	for i, r := range e.Replicas {
		if slices.Contains(e.Replicas[:i], r) {
			return fmt.Errorf("partition %s lists broker %d more than once", e.name(), r)
		}
	}
	if e.LogDirs != nil && len(e.LogDirs) != len(e.Replicas) {
		return fmt.Errorf("partition %s has %d log_dirs for %d replicas", e.name(), len(e.LogDirs), len(e.Replicas))
	}
	for _, d := range e.LogDirs {
		if d != "any" {
			return fmt.Errorf("partition %s: log dir %q: only \"any\" is supported (fjord does not move replicas between log dirs)", e.name(), d)
		}
	}
	return nil
}

// parseTopicsToMove reads a --topics-to-move-json-file: version 1, at
// least one topic, none twice. The topics come back sorted.
func parseTopicsToMove(data []byte) ([]string, error) {
	var f topicsToMoveFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parsing the topics-to-move JSON: %w", err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("unsupported topics-to-move JSON version %d (want 1)", f.Version)
	}
	var topics []string
	for _, t := range f.Topics {
		if t.Topic == "" {
			return nil, errors.New("a topic of the topics-to-move JSON has no name")
		}
		if slices.Contains(topics, t.Topic) {
			return nil, fmt.Errorf("topic %s is listed more than once", t.Topic)
		}
		topics = append(topics, t.Topic)
	}
	if len(topics) == 0 {
		return nil, errors.New("the topics-to-move list is empty")
	}
	slices.Sort(topics)
	return topics, nil
}

// parseBrokerList parses "1,2,3": at least one id, none twice.
func parseBrokerList(s string) ([]int32, error) {
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("invalid broker id %q", f)
		}
		if slices.Contains(ids, int32(id)) {
			return nil, fmt.Errorf("broker %d is listed more than once", id)
		}
		ids = append(ids, int32(id))
	}
	if len(ids) == 0 {
		return nil, errors.New("the broker list is empty")
	}
	return ids, nil
}

// joinIDs renders ids as "1,2,3".
func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// rackAlternated orders brokers one per rack in turn (racks sorted, ids
// sorted within a rack): with racks a={1,2}, b={3,4} it is 1,3,2,4.
func rackAlternated(racks map[int32]string) []int32 {
	byRack := map[string][]int32{}
	for id, r := range racks {
		byRack[r] = append(byRack[r], id)
	}
	names := slices.Sorted(maps.Keys(byRack))
	for _, r := range names {
		slices.Sort(byRack[r])
	}
	var out []int32
	for i := 0; len(out) < len(racks); i++ {
		for _, r := range names {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}

// stripe assigns partitions [0, n) of rf replicas over the brokers of
// racks (id → rack; one "" rack when rack-unaware), as Kafka's generate
// does but deterministically: in rack-alternated order, partition p's
// first replica is list[p mod n]; its followers are taken from
// list[(first + 1 + (p/n + j) mod (n-1)) mod n] for j = 0, 1, ... (the
// distance to the leader shifts by one each round), skipping brokers of
// a rack already used while some rack is unused.
func stripe(racks map[int32]string, partitions []int32, rfs []int) ([][]int32, error) {
	list := rackAlternated(racks)
	n := len(list)
	numRacks := len(slices.Compact(slices.Sorted(maps.Values(racks))))
	out := make([][]int32, len(partitions))
	for i, p := range partitions {
		rf := rfs[i]
		if rf > n {
			return nil, fmt.Errorf("replication factor %d of partition %d is larger than the %d available brokers", rf, p, n)
		}
		first := int(p) % n
		replicas := []int32{list[first]}
		used := map[string]bool{racks[list[first]]: true}
		for pass := 0; pass < 2 && len(replicas) < rf; pass++ {
			for j := 0; j < n-1 && len(replicas) < rf; j++ {
				c := list[(first+1+(int(p)/n+j)%(n-1))%n]
				if slices.Contains(replicas, c) || (pass == 0 && used[racks[c]] && len(used) < numRacks) {
					continue
				}
				replicas = append(replicas, c)
				used[racks[c]] = true
			}
		}
		out[i] = replicas
	}
	return out, nil
}
