package metadata

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// LastKnownELR is set, kept and cleared by PartitionChange records, and
// survives a snapshot; an empty list clears it.
func TestLastKnownELRReplayAndSnapshot(t *testing.T) {
	img := applyEach(t, Empty(), 0, sampleRecords())
	steps := []struct {
		ch   PartitionChange
		want []int32
	}{
		{PartitionChange{TopicID: topicA, Partition: 0, Leader: ptr(int32(-1)), LastKnownELR: &[]int32{2}}, []int32{2}},
		{PartitionChange{TopicID: topicA, Partition: 0, ISR: []int32{2}}, []int32{2}}, // nil: unchanged
		{PartitionChange{TopicID: topicA, Partition: 0, Leader: ptr(int32(2)), LastKnownELR: &[]int32{}}, nil},
		{PartitionChange{TopicID: topicA, Partition: 0, Leader: ptr(int32(-1)), LastKnownELR: &[]int32{2}}, []int32{2}},
	}
	for i, s := range steps {
		var err error
		if img, _, err = img.Apply(int64(30+i), []Record{s.ch}); err != nil {
			t.Fatal(err)
		}
		top, _ := img.Topic("a")
		if got := top.Partitions[0].LastKnownELR; !slices.Equal(got, s.want) || (s.want == nil && got != nil) {
			t.Fatalf("step %d: LastKnownELR %v, want %v", i, got, s.want)
		}
	}
	rebuilt, _, err := Empty().Apply(img.Offset, img.Records())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rebuilt, img) {
		t.Errorf("snapshot does not rebuild LastKnownELR:\n got %+v\nwant %+v", rebuilt.Topics[topicA], img.Topics[topicA])
	}
}

// The field is optional on the wire: records without it decode as before
// (nil, unchanged) and records with it round-trip.
func TestLastKnownELREncoding(t *testing.T) {
	old := []byte(`{"type":"PartitionChange","data":{"topicId":"` + topicA.String() + `","partition":0,"isr":[1]}}`)
	r, err := Decode(old)
	if err != nil {
		t.Fatal(err)
	}
	if ch := r.(PartitionChange); ch.LastKnownELR != nil {
		t.Errorf("old record decoded with LastKnownELR %v", *ch.LastKnownELR)
	}
	b, err := Encode(Partition{TopicID: topicA, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "lastKnownElr") {
		t.Errorf("empty LastKnownELR encoded: %s", b)
	}
	for _, rec := range []Record{
		Partition{TopicID: topicA, Replicas: []int32{1}, ISR: []int32{1}, Leader: -1, LastKnownELR: []int32{1}},
		PartitionChange{TopicID: topicA, LastKnownELR: &[]int32{}},
		PartitionChange{TopicID: topicA, LastKnownELR: &[]int32{3}},
	} {
		b, err := Encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil || !reflect.DeepEqual(got, rec) {
			t.Errorf("round trip of %+v: %+v, %v", rec, got, err)
		}
	}
}
