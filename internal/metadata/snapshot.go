package metadata

import (
	"bytes"
	"maps"
	"slices"
	"sort"
	"strings"
)

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
