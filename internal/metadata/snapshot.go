package metadata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// SnapshotVersion is the version of the snapshot format this code
// writes: {"v": 1, "records": [...]} (version 0, before versions existed,
// was the bare record list). Newer versions fail with ErrNewerVersion.
const SnapshotVersion = 1

type snapshotFile struct {
	Version int16             `json:"v"`
	Records []json.RawMessage `json:"records"`
}

// EncodeSnapshot serializes img as a snapshot (its Records).
func EncodeSnapshot(img *Image) ([]byte, error) {
	recs := img.Records()
	out := snapshotFile{Version: SnapshotVersion, Records: make([]json.RawMessage, len(recs))}
	for i, r := range recs {
		b, err := Encode(r)
		if err != nil {
			return nil, err
		}
		out.Records[i] = b
	}
	return json.Marshal(out)
}

// DecodeSnapshot parses a snapshot written by EncodeSnapshot (or by a
// version 0 node) into records that rebuild the image from Empty.
func DecodeSnapshot(data []byte) ([]Record, error) {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		return DecodeBatch(data) // version 0
	}
	var f snapshotFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("metadata: decode snapshot: %w", err)
	}
	if f.Version > SnapshotVersion {
		return nil, fmt.Errorf("%w: snapshot of version %d (this node reads up to %d)", ErrNewerVersion, f.Version, SnapshotVersion)
	}
	recs := make([]Record, len(f.Records))
	for i, raw := range f.Records {
		r, err := Decode(raw)
		if err != nil {
			return nil, err
		}
		recs[i] = r
	}
	return recs, nil
}

// Records returns records that rebuild img from the empty image when
// applied as one entry at img.Offset: the content of a metadata snapshot.
func (img *Image) Records() []Record {
	recs := []Record{ClusterID{ID: img.ClusterID}}
	for _, id := range slices.Sorted(maps.Keys(img.Brokers)) {
		recs = append(recs, brokerRecords(img.Brokers[id])...)
	}
	for _, name := range img.TopicNames() {
		recs = append(recs, topicRecords(img.Topics[img.TopicsByName[name]])...)
	}
	recs = append(recs, configRecords(img.Configs)...)
	if img.NextProducerID != 0 {
		recs = append(recs, ProducerIDs{NextID: img.NextProducerID})
	}
	recs = append(recs, securityRecords(img.security())...)
	recs = append(recs, quotaRecords(img.Quotas)...)
	return recs
}

func brokerRecords(b BrokerInfo) []Record {
	recs := []Record{RegisterBroker{ID: b.ID, Epoch: b.Epoch, Incarnation: b.Incarnation, Endpoints: b.Endpoints, Rack: b.Rack, Fenced: b.Fenced}}
	if b.InControlledShutdown {
		yes := true
		recs = append(recs, BrokerRegistrationChange{ID: b.ID, Epoch: b.Epoch, InControlledShutdown: &yes})
	}
	return recs
}

func topicRecords(t *TopicImage) []Record {
	recs := []Record{Topic{Name: t.Name, ID: t.ID}}
	for i, p := range t.Partitions {
		recs = append(recs, Partition{
			TopicID: t.ID, Partition: int32(i), Replicas: p.Replicas, ISR: p.ISR, ELR: p.ELR,
			LastKnownELR: p.LastKnownELR, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
			AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas,
		})
	}
	return recs
}

func configRecords(cfgs map[ConfigKey]map[string]string) []Record {
	keys := slices.Collect(maps.Keys(cfgs))
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Type != keys[j].Type {
			return keys[i].Type < keys[j].Type
		}
		return keys[i].Name < keys[j].Name
	})
	var recs []Record
	for _, k := range keys {
		for _, name := range slices.Sorted(maps.Keys(cfgs[k])) {
			v := cfgs[k][name]
			recs = append(recs, Config{ResourceType: k.Type, ResourceName: k.Name, Name: name, Value: &v})
		}
	}
	return recs
}

func sortedIDs[V any](m map[UUID]V) []UUID {
	ids := slices.Collect(maps.Keys(m))
	slices.SortFunc(ids, func(a, b UUID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

func sortedScramKeys(m map[ScramKey]ScramCredential) []ScramKey {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b ScramKey) int {
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		return int(a.Mechanism) - int(b.Mechanism)
	})
	return keys
}
