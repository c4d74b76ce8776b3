package metadata

import (
	"math"
	"testing"
)

// TestCoordinatorPartition checks Java's String.hashCode semantics (UTF-16
// code units, int32 wrap-around) and Kafka's Utils.abs(MinInt32) == 0.
func TestCoordinatorPartition(t *testing.T) {
	cases := []struct {
		key  string
		n    int32
		want int32
	}{
		{"ab", math.MaxInt32, 3105},
		{"hello", math.MaxInt32, 99162322},
		{"my-group", 50, 12},          // hashCode -1906497762: abs
		{"polygenelubricants", 50, 0}, // hashCode is Integer.MIN_VALUE
		{"group-\U0001F600", 50, 7},   // a surrogate pair counts as two chars
		{"x", 0, 0},                   // no partitions
	}
	for _, tc := range cases {
		if got := CoordinatorPartition(tc.key, tc.n); got != tc.want {
			t.Errorf("CoordinatorPartition(%q, %d) = %d, want %d", tc.key, tc.n, got, tc.want)
		}
	}
}
