package metadata

import "unicode/utf16"

// CoordinatorPartition is the partition of an internal topic with n
// partitions that coordinates key (a group id on __consumer_offsets, a
// transactional id on __transaction_state): Kafka's
// Utils.abs(key.hashCode()) % n, where hashCode is Java's String.hashCode
// over UTF-16 code units and abs(MinInt32) is 0. A count below 1 gives 0.
func CoordinatorPartition(key string, n int32) int32 {
	if n < 1 {
		return 0
	}
	var h int32
	for _, u := range utf16.Encode([]rune(key)) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}
