package broker

import (
	"testing"
	"time"
)

// waitReady's timeout counts only time in which no log loads: a node
// recovering its logs for longer than the timeout still starts, one that
// stalls does not.
func TestWaitReadyCountsOnlyIdleTime(t *testing.T) {
	clock := time.Unix(0, 0)
	now := func() time.Time { return clock }
	sleep := func(d time.Duration) { clock = clock.Add(d) }
	start := clock
	loadingFor := func(d time.Duration) func() int {
		return func() int {
			if clock.Sub(start) < d {
				return 1
			}
			return 0
		}
	}
	readyAt := func(d time.Duration) func() bool { return func() bool { return clock.Sub(start) >= d } }

	if err := waitReady(10*time.Second, now, sleep, readyAt(35*time.Second), loadingFor(30*time.Second)); err != nil {
		t.Fatalf("30 s of loading, ready 5 s later: %v", err)
	}
	start = clock
	if err := waitReady(10*time.Second, now, sleep, readyAt(45*time.Second), loadingFor(30*time.Second)); err == nil {
		t.Fatal("ready 15 s after the last load: want a timeout")
	}
	start = clock
	if err := waitReady(10*time.Second, now, sleep, readyAt(time.Second), loadingFor(0)); err != nil {
		t.Fatalf("ready at once: %v", err)
	}
}
