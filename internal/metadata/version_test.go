package metadata

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Records carry their format version; records without one (written
// before versions) read as version 0; a newer version is refused.
func TestRecordVersions(t *testing.T) {
	b, err := Encode(Topic{Name: "t", ID: UUID{1}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"v":1`)) {
		t.Fatalf("encoded record %s carries no version", b)
	}
	legacy := `{"type":"Topic","data":{"name":"t","id":"AQAAAAAAAAAAAAAAAAAAAA"}}`
	r, err := Decode([]byte(legacy))
	if err != nil || r.(Topic).Name != "t" {
		t.Fatalf("legacy record: %v %v", r, err)
	}
	newer := strings.Replace(legacy, `"type":"Topic"`, `"type":"Topic","v":2`, 1)
	if _, err := Decode([]byte(newer)); !errors.Is(err, ErrNewerVersion) {
		t.Fatalf("newer record: %v, want ErrNewerVersion", err)
	}
	if _, err := DecodeBatch([]byte("[" + newer + "]")); !errors.Is(err, ErrNewerVersion) {
		t.Fatalf("newer record in a batch: %v, want ErrNewerVersion", err)
	}
}

// Snapshots carry a version; the bare record list of version 0 still
// restores; a newer snapshot is refused.
func TestSnapshotVersions(t *testing.T) {
	img, _, err := Empty().Apply(5, []Record{ClusterID{ID: "c"}, Topic{Name: "t", ID: UUID{1}},
		Partition{TopicID: UUID{1}, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := EncodeSnapshot(img)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := EncodeBatch(img.Records())
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"v1": snap, "v0": legacy} {
		recs, err := DecodeSnapshot(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, _, err := Empty().Apply(5, recs)
		if err != nil || got.Topics[UUID{1}].Partitions[0].Leader != 1 || got.ClusterID != "c" {
			t.Fatalf("%s: restored %+v %v", name, got, err)
		}
	}
	newer := bytes.Replace(snap, []byte(`"v":1,"records"`), []byte(`"v":2,"records"`), 1)
	if _, err := DecodeSnapshot(newer); !errors.Is(err, ErrNewerVersion) {
		t.Fatalf("newer snapshot: %v, want ErrNewerVersion", err)
	}
}

// DecodeSnapshot never panics on arbitrary input.
func FuzzDecodeSnapshot(f *testing.F) {
	img, _, _ := Empty().Apply(1, []Record{ClusterID{ID: "c"}})
	snap, _ := EncodeSnapshot(img)
	f.Add(snap)
	f.Add([]byte(`[{"type":"Topic","data":{}}]`))
	f.Add([]byte(`{"v":9}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := DecodeSnapshot(data)
		if err == nil {
			_, _, _ = Empty().Apply(1, recs)
		}
	})
}
