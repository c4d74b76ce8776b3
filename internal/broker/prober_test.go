package broker

import (
	"net"
	"slices"
	"testing"
	"time"
)

func TestRefusedTellsAClosedPortFromAListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if refused(addr) {
		t.Fatal("a listening port counted as refused")
	}
	ln.Close()
	if !refused(addr) {
		t.Fatal("a closed port not counted as refused")
	}
}

func TestProbeRetrySchedule(t *testing.T) {
	now := time.Unix(100, 0)
	rs := []retry{{s: suspect{id: 1}, due: now.Add(time.Second)}, {s: suspect{id: 2}, due: now}, {s: suspect{id: 3}, due: now.Add(-time.Second)}}
	due, later := splitDue(rs, now)
	ids := func(rs []retry) []int32 {
		var out []int32
		for _, r := range rs {
			out = append(out, r.s.id)
		}
		return out
	}
	if !slices.Equal(ids(due), []int32{2, 3}) || !slices.Equal(ids(later), []int32{1}) {
		t.Errorf("due %v later %v", ids(due), ids(later))
	}
	if d := nextDue(nil); d != time.Hour {
		t.Errorf("nextDue of none = %v", d)
	}
}
