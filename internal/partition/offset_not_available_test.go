package partition

import (
	"errors"
	"testing"
)

// A new leader whose high watermark is below the start of its epoch does
// not know the partition's end: a client's latest or timestamp lookup
// gets ErrOffsetNotAvailable (Kafka's OFFSET_NOT_AVAILABLE, KIP-207)
// rather than a stale, lower offset, until the followers' fetches move
// the high watermark into the epoch.
func TestListOffsetBeforeHWKnown(t *testing.T) {
	e, t0 := readEnv(t) // LEO 3, HW 2
	e.lead(2, 2, []int32{1, 2}, []int32{1, 2})
	e.wantHW(2)
	for _, ts := range []int64{Latest, MaxTimestamp, t0} {
		if got, err := e.p.ListOffset(ts, -1, ReadUncommitted); !errors.Is(err, ErrOffsetNotAvailable) {
			t.Fatalf("ListOffset(%d) with the HW below the epoch start: %+v, %v; want ErrOffsetNotAvailable", ts, got, err)
		}
	}
	if got, err := e.p.ListOffset(Earliest, -1, ReadUncommitted); err != nil || got.Offset != 0 {
		t.Fatalf("earliest: %+v, %v", got, err)
	}
	if got, err := e.p.ListOffset(Latest, -1, ReplicaView); err != nil || got.Offset != 3 {
		t.Fatalf("latest for a replica: %+v, %v; want the LEO 3", got, err)
	}
	e.fetch(2, 3)
	e.wantHW(3)
	if got, err := e.p.ListOffset(Latest, -1, ReadUncommitted); err != nil || got.Offset != 3 {
		t.Fatalf("latest once the HW is known: %+v, %v; want 3", got, err)
	}
}
