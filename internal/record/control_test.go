package record

import "testing"

func TestControlBatchRoundTrip(t *testing.T) {
	for _, m := range []Marker{
		{ProducerID: 7, ProducerEpoch: 3, Commit: true, CoordinatorEpoch: 9},
		{ProducerID: 1 << 40, ProducerEpoch: 32767, Commit: false, CoordinatorEpoch: 0},
	} {
		b := BuildControlBatch(m, 1234)
		h, err := Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.IsControl() || !h.IsTransactional() || h.BaseSequence != -1 || h.NumRecords != 1 || h.MaxTimestamp != 1234 {
			t.Fatalf("header %+v", h)
		}
		got, ok, err := ParseMarker(b)
		if err != nil || !ok || got != m {
			t.Fatalf("ParseMarker = %+v %v %v, want %+v", got, ok, err, m)
		}
	}
}

func TestParseMarkerRejectsDataBatch(t *testing.T) {
	b, err := BuildBatch(CompressionNone, 1, []Record{{Key: []byte("k"), Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ParseMarker(b); err == nil {
		t.Fatal("a data batch parsed as a marker")
	}
}

func TestSetProducer(t *testing.T) {
	b, err := BuildBatch(CompressionNone, 1, []Record{{Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	SetProducer(b, 42, 5, 0, true)
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.ProducerID != 42 || h.ProducerEpoch != 5 || h.BaseSequence != 0 || !h.IsTransactional() || h.IsControl() {
		t.Fatalf("header %+v", h)
	}
}

func FuzzParseMarker(f *testing.F) {
	f.Add(BuildControlBatch(Marker{ProducerID: 1, ProducerEpoch: 2, Commit: true, CoordinatorEpoch: 3}, 5))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = ParseMarker(b)
	})
}
