package handlers

import (
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
)

// BenchmarkFetchSessionWake is a follower's wake-up on a session of 1,000
// partitions of which one changed: which partitions to read, then what
// was sent. It should cost O(changed), not O(session).
func BenchmarkFetchSessionWake(b *testing.B) {
	now := time.Unix(1000, 0)
	s := &fetchSession{index: map[sessionKey]*sessionPart{}, byW: map[*partition.Watcher]*sessionPart{}, swept: now}
	parts := make([]int32, 1000)
	for i := range parts {
		parts[i] = int32(i)
	}
	s.update(fetchByID(12, fetchTopic("t", metadata.UUID{}, 0, parts...)))
	s.toExamine(false, nil, now, map[*sessionPart]bool{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sp := s.index[sessionKey{name: "t", partition: int32(i % 1000)}]
		sp.w.Mark()
		es := s.toExamine(false, nil, now, map[*sessionPart]bool{})
		s.commit([]sent{{sp: es[0].sp, records: true}})
	}
}
