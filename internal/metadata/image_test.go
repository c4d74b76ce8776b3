package metadata

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func ptr[T any](v T) *T { return &v }

var topicA = UUID{1}

func sampleRecords() []Record {
	return []Record{
		ClusterID{ID: "abc"},
		RegisterBroker{ID: 1, Endpoints: []Endpoint{{"PLAINTEXT", "127.0.0.1", 9092}}},
		RegisterBroker{ID: 2, Endpoints: []Endpoint{{"PLAINTEXT", "127.0.0.1", 9093}}, Rack: "r2"},
		Topic{Name: "a", ID: topicA},
		Partition{TopicID: topicA, Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		Partition{TopicID: topicA, Partition: 1, Replicas: []int32{2, 1}, ISR: []int32{2, 1}, Leader: 2},
		Config{ResourceType: ResourceTopic, ResourceName: "a", Name: "retention.ms", Value: ptr("1000")},
		PartitionChange{TopicID: topicA, Partition: 0, Leader: ptr(int32(2)), ISR: []int32{2}},
		BrokerRegistrationChange{ID: 1, Epoch: 1, Fenced: ptr(true)},
		ProducerIDs{BrokerID: 1, NextID: 1000},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	all := append(sampleRecords(), RemoveTopic{TopicID: topicA}, UnregisterBroker{ID: 3, Epoch: 4})
	batch, err := EncodeBatch(all)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeBatch(batch); err != nil || !reflect.DeepEqual(got, all) {
		t.Errorf("batch round trip: %v", err)
	}
	for _, r := range all {
		b, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%T: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip %T: got %+v, want %+v", r, got, r)
		}
	}
	if _, err := Decode([]byte(`{"type":"Nope","data":{}}`)); !errors.Is(err, ErrUnknownRecord) {
		t.Errorf("unknown type: got %v", err)
	}
	if _, err := Decode([]byte(`{`)); err == nil {
		t.Error("garbage decoded without error")
	}
}

// applyEach applies each record as its own entry, at offsets from first.
func applyEach(t *testing.T, img *Image, first int64, recs []Record) *Image {
	t.Helper()
	for i, r := range recs {
		var err error
		if img, _, err = img.Apply(first+int64(i), []Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func TestApplyBuildsImage(t *testing.T) {
	recs := sampleRecords()
	img := applyEach(t, Empty(), 0, recs[:len(recs)-2])
	img, delta, err := img.Apply(8, recs[len(recs)-2:])
	if err != nil {
		t.Fatal(err)
	}
	if img.Offset != 8 || img.ClusterID != "abc" || img.NextProducerID != 1000 {
		t.Fatalf("image header: %+v", img)
	}
	if b := img.Brokers[1]; !b.Fenced || b.Epoch != 1 {
		t.Errorf("broker 1: %+v (epoch is the registration offset)", b)
	}
	if b := img.Brokers[2]; b.Fenced || b.Epoch != 2 || b.Rack != "r2" {
		t.Errorf("broker 2: %+v", b)
	}
	top, ok := img.Topic("a")
	if !ok || len(top.Partitions) != 2 {
		t.Fatalf("topic a: %+v", top)
	}
	p0 := top.Partitions[0]
	if p0.Leader != 2 || p0.LeaderEpoch != 1 || p0.PartitionEpoch != 1 || !reflect.DeepEqual(p0.ISR, []int32{2}) {
		t.Errorf("partition 0 after change: %+v", p0)
	}
	if img.TopicConfig("a")["retention.ms"] != "1000" {
		t.Errorf("config: %v", img.TopicConfig("a"))
	}
	if !delta.ChangedBrokers[1] || len(delta.ChangedPartitions) != 0 {
		t.Errorf("delta: %+v", delta)
	}
}

func TestApplyLeavesSourceImageIntact(t *testing.T) {
	recs := sampleRecords()
	img1 := applyEach(t, Empty(), 0, recs[:6])
	before, _ := img1.Topic("a")
	snapshot := *before
	snapshot.Partitions = append([]PartitionImage(nil), before.Partitions...)
	img2, delta, err := img1.Apply(6, append(recs[6:], RemoveTopic{TopicID: topicA}))
	if err != nil || delta.DeletedTopics[topicA] == nil {
		t.Fatal(err)
	}
	if _, ok := img2.Topic("a"); ok {
		t.Error("topic survived RemoveTopic")
	}
	after, ok := img1.Topic("a")
	if !ok || !reflect.DeepEqual(*after, snapshot) || img1.Brokers[1].Fenced || len(img1.TopicConfig("a")) != 0 {
		t.Errorf("source image was modified: %+v", after)
	}
}

func TestReplayIsDeterministic(t *testing.T) {
	a := applyEach(t, Empty(), 0, sampleRecords())
	b := applyEach(t, Empty(), 0, sampleRecords())
	if !reflect.DeepEqual(a, b) {
		t.Errorf("piecewise replay differs:\n%+v\n%+v", a, b)
	}
}

func TestApplyRejectsInconsistentRecords(t *testing.T) {
	base := applyEach(t, Empty(), 0, sampleRecords()[:6])
	cases := map[string]Record{
		"duplicate topic name":      Topic{Name: "a", ID: UUID{9}},
		"partition of unknown":      Partition{TopicID: UUID{9}, Partition: 0, Replicas: []int32{1}},
		"partition out of order":    Partition{TopicID: topicA, Partition: 5, Replicas: []int32{1}},
		"change unknown partition":  PartitionChange{TopicID: topicA, Partition: 7},
		"remove unknown topic":      RemoveTopic{TopicID: UUID{9}},
		"change unregistered epoch": BrokerRegistrationChange{ID: 1, Epoch: 99},
	}
	for name, r := range cases {
		// A bad record fails its whole entry, even after good records.
		good := Config{ResourceType: ResourceTopic, ResourceName: "a", Name: "x", Value: ptr("1")}
		if _, _, err := base.Apply(6, []Record{good, r}); !errors.Is(err, ErrInconsistent) {
			t.Errorf("%s: got %v, want ErrInconsistent", name, err)
		}
	}
}

func TestUUIDString(t *testing.T) {
	u := UUID{0xff, 1, 2}
	got, err := ParseUUID(u.String())
	if err != nil || got != u {
		t.Fatalf("parse %q: %v %v", u.String(), got, err)
	}
	if _, err := ParseUUID("short"); err == nil {
		t.Error("bad uuid parsed")
	}
}

func TestSnapshotRecordsRebuildImage(t *testing.T) {
	img := applyEach(t, Empty(), 0, sampleRecords())
	img, _, err := img.Apply(20, []Record{BrokerRegistrationChange{ID: 2, Epoch: 2, InControlledShutdown: ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, _, err := Empty().Apply(img.Offset, img.Records())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rebuilt, img) {
		t.Errorf("snapshot does not rebuild the image:\n got %+v\nwant %+v", rebuilt, img)
	}
}

func TestMergeDeltas(t *testing.T) {
	img1, d1, err := Empty().Apply(1, sampleRecords()[:6])
	if err != nil {
		t.Fatal(err)
	}
	img2, d2, err := img1.Apply(2, []Record{PartitionChange{TopicID: topicA, Partition: 1, ISR: []int32{2}}, RemoveTopic{TopicID: topicA}})
	if err != nil {
		t.Fatal(err)
	}
	m := MergeDeltas([]*Delta{d1, d2})
	if !m.ChangedPartitions[topicA][0] || !m.ChangedPartitions[topicA][1] {
		t.Errorf("merged changed partitions %v", m.ChangedPartitions)
	}
	if _, ok := m.DeletedTopics[topicA]; !ok || img2.Topics[topicA] != nil {
		t.Errorf("merged deleted topics %v", m.DeletedTopics)
	}
	if !m.ChangedBrokers[1] || !m.ChangedBrokers[2] || !m.ChangedConfigs[ConfigKey{ResourceTopic, "a"}] {
		t.Errorf("merged brokers %v configs %v", m.ChangedBrokers, m.ChangedConfigs)
	}
	if len(d1.DeletedTopics) != 0 {
		t.Error("merging modified an input")
	}
}

// BenchmarkApplyLeaderChange10kTopics applies one leader change to an
// image of 10,000 single-partition topics, and a broker fence: an entry
// costs what it changes, not a copy of every map.
func BenchmarkApplyLeaderChange10kTopics(b *testing.B) {
	recs := []Record{RegisterBroker{ID: 1}, RegisterBroker{ID: 2}}
	for i := range 10000 {
		id := UUID{byte(i), byte(i >> 8), 1}
		recs = append(recs, Topic{Name: fmt.Sprintf("t%d", i), ID: id},
			Partition{TopicID: id, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	}
	img, _, err := Empty().Apply(1, recs)
	if err != nil {
		b.Fatal(err)
	}
	leader, fenced := int32(2), true
	change := []Record{PartitionChange{TopicID: UUID{7, 0, 1}, Leader: &leader}}
	fence := []Record{BrokerRegistrationChange{ID: 1, Epoch: 1, Fenced: &fenced}}
	b.Run("leader", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := img.Apply(2, change); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fence", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := img.Apply(2, fence); err != nil {
				b.Fatal(err)
			}
		}
	})
}
