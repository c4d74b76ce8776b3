package quota_test

import (
	"fmt"
	"time"

	"github.com/fjordlog/fjord/internal/quota"
)

// A replication throttle (leader.replication.throttled.rate, say) asks
// the same question as a client quota: record the bytes sent at now
// against the bound and hold back for the throttle time returned.
func ExampleManager_Record() {
	m := quota.NewManager(quota.DefaultConfig(), quota.DefaultInactiveExpiry)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const bound = 1 << 20 // bytes per second
	fmt.Println(m.Record("leader", 512<<10, now, bound))
	fmt.Println(m.Record("leader", 1<<20, now, bound))
	fmt.Println(m.Sensor("leader", now).Exceeded(now.Add(2*time.Second), bound))
	// Output:
	// 0s
	// 500ms
	// false
}
