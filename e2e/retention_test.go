package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRetentionDeletesOldSegments runs a node with small segments and a
// fast retention check, fills topics with many segments, and checks that
// time-based retention deletes the old segment files, that the log start
// offset (ListOffsets earliest) moves to the base offset of the oldest
// remaining segment, that consumers start there, and that producing
// continues. One topic gets retention.ms when created, the other through
// IncrementalAlterConfigs after it is filled.
func TestRetentionDeletesOldSegments(t *testing.T) {
	n := startNode(t, "", "log.segment.bytes=16384", "log.retention.check.interval.ms=200")
	adm := n.admin()
	short := "1000"

	t.Run("alter-config-after-produce", func(t *testing.T) {
		const topic = "retention-altered"
		createTopic(t, adm, topic, 1, nil)
		end := fillSegments(t, n, topic, 300)
		segs := segmentBases(t, n.partitionDir(topic, 0))
		if len(segs) < 10 {
			t.Fatalf("%d segments after producing %d records of 1 KiB with log.segment.bytes=16384, want >= 10", len(segs), end)
		}
		// Retention must not run with the default retention.ms (7 days).
		if start := offsets(t, adm.ListStartOffsets, topic)[0]; start != 0 {
			t.Fatalf("log start offset %d before retention.ms was lowered, want 0", start)
		}
		alterConfig(t, adm, topic, "retention.ms", short)
		checkRetained(t, n, topic, len(segs), end)
	})

	t.Run("config-at-create", func(t *testing.T) {
		const topic = "retention-created"
		createTopic(t, adm, topic, 1, map[string]*string{"retention.ms": &short, "segment.bytes": ptr("8192")})
		end := fillSegments(t, n, topic, 200)
		checkRetained(t, n, topic, 2, end)
	})
	t.Run("retention.bytes", func(t *testing.T) {
		const (
			topic = "retention-bytes"
			limit = 50_000
		)
		createTopic(t, adm, topic, 1, map[string]*string{"retention.bytes": ptr(strconv.Itoa(limit))})
		end := fillSegments(t, n, topic, 200)
		dir := n.partitionDir(topic, 0)
		// Kafka's rule: delete the oldest segment while the log would
		// still hold at least retention.bytes without it.
		var sizes []int64
		var bases []int64
		waitFor(t, waitTimeout, fmt.Sprintf("%s to shrink to about %d bytes", topic, limit), func() (bool, string) {
			bases = segmentBases(t, dir)
			var err error
			if sizes, err = segmentSizes(dir, bases); err != nil {
				return false, err.Error() // deleted between listing and stat
			}
			var total int64
			for _, s := range sizes {
				total += s
			}
			return total-sizes[0] < limit, fmt.Sprintf("segments %v of sizes %v (%d bytes)", bases, sizes, total)
		})
		var total int64
		for _, s := range sizes {
			total += s
		}
		if total < limit {
			t.Errorf("%s: retention.bytes=%d left only %d bytes (segments %v of sizes %v)", topic, limit, total, bases, sizes)
		}
		waitFor(t, waitTimeout, fmt.Sprintf("%s: ListOffsets earliest == %d", topic, bases[0]), func() (bool, string) {
			got, err := tryOffsets(adm.ListStartOffsets, topic)
			return err == nil && got[0] == bases[0], fmt.Sprintf("earliest %d (err %v)", got[0], err)
		})
		recs := consumeFrom(t, n, topic, kgo.NewOffset().AtStart(), end)
		checkContiguous(t, topic, 0, recs, bases[0], end)
	})
	if t.Failed() {
		return
	}

	// The log start offsets survive a clean and an unclean restart.
	topics := []string{"retention-altered", "retention-created", "retention-bytes"}
	starts, ends := map[string]int64{}, map[string]int64{}
	for _, topic := range topics {
		starts[topic] = offsets(t, adm.ListStartOffsets, topic)[0]
		ends[topic] = offsets(t, adm.ListEndOffsets, topic)[0]
	}
	for _, stop := range []func(){n.stop, n.kill9} {
		stop()
		n.restart()
		for _, topic := range topics {
			start, end := offsets(t, adm.ListStartOffsets, topic)[0], offsets(t, adm.ListEndOffsets, topic)[0]
			if start != starts[topic] || end != ends[topic] {
				t.Errorf("%s: offsets [%d, %d) after restart %d, want [%d, %d)", topic, start, end, n.proc.run()-1, starts[topic], ends[topic])
			}
			if recs := consumeFrom(t, n, topic, kgo.NewOffset().AtStart(), end); recs[0].Offset != start {
				t.Errorf("%s: consumer from the start begins at %d after restart, want %d", topic, recs[0].Offset, start)
			}
		}
	}
}

func ptr(s string) *string { return &s }

// fillSegments produces count records of about 1 KiB to partition 0 of
// topic, a few per request so that the segments stay small, and returns
// the end offset.
func fillSegments(t *testing.T, n *node, topic string, count int) int64 {
	t.Helper()
	cl := n.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := []byte(strings.Repeat("r", 1000))
	for i := 0; i < count; i += 4 {
		var recs []*kgo.Record
		for j := i; j < min(i+4, count); j++ {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(j)), Value: value})
		}
		if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
	return int64(count)
}

// checkRetained waits until retention has deleted every sealed segment
// (all records are older than retention.ms; only the active segment may
// stay), then checks the log start offset, the first record a consumer
// reads, and that producing continues at the end offset.
func checkRetained(t *testing.T, n *node, topic string, before int, end int64) {
	t.Helper()
	adm := n.admin()
	dir := n.partitionDir(topic, 0)
	var segs []int64
	waitFor(t, waitTimeout, fmt.Sprintf("retention to delete the sealed segments of %s", topic), func() (bool, string) {
		segs = segmentBases(t, dir)
		return len(segs) == 1, fmt.Sprintf("%d .log files (base offsets %v), %d before", len(segs), segs, before)
	})
	oldest := segs[0]
	if oldest == 0 || oldest >= end {
		t.Fatalf("%s: the remaining segment starts at %d, want within (0, %d)", topic, oldest, end)
	}
	var start int64
	waitFor(t, waitTimeout, fmt.Sprintf("%s: ListOffsets earliest == %d", topic, oldest), func() (bool, string) {
		got, err := tryOffsets(adm.ListStartOffsets, topic)
		start = got[0]
		return err == nil && start == oldest, fmt.Sprintf("earliest %d (err %v), oldest segment base %d", start, err, oldest)
	})
	if got := offsets(t, adm.ListEndOffsets, topic)[0]; got != end {
		t.Errorf("%s: end offset %d after retention, want %d", topic, got, end)
	}
	for _, from := range []kgo.Offset{kgo.NewOffset().AtStart(), kgo.NewOffset().At(0)} {
		// At(0) is below the log start: the fetch fails with
		// OFFSET_OUT_OF_RANGE and the consumer resets to the start.
		recs := consumeFrom(t, n, topic, from, end)
		if len(recs) == 0 || recs[0].Offset != start {
			t.Fatalf("%s: a consumer from %v read %d records starting at %v, want offset %d", topic, from, len(recs), firstOffset(recs), start)
		}
		checkContiguous(t, topic, 0, recs, start, end)
	}
	checkProduceAtEnd(t, n, topic, 1, map[int32]int64{0: end})
}

// consumeFrom reads partition 0 of topic from the offset from (resolved as
// a real consumer resolves it, resetting to the start when out of range)
// up to end.
func consumeFrom(t *testing.T, n *node, topic string, from kgo.Offset, end int64) []*kgo.Record {
	t.Helper()
	cl := n.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: from}}),
		kgo.FetchMaxWait(500*time.Millisecond))
	defer cl.Close()
	ctx := ctxT(t)
	var out []*kgo.Record
	for len(out) == 0 || out[len(out)-1].Offset < end-1 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: consuming from %v: timed out after %d records", topic, from, len(out))
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("%s[%d]: consuming from %v: %v", topic, p, from, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < end {
				out = append(out, r)
			}
		})
	}
	return out
}

func firstOffset(recs []*kgo.Record) any {
	if len(recs) == 0 {
		return "none"
	}
	return recs[0].Offset
}

// segmentBases returns the base offsets of the .log files in dir, sorted.
func segmentBases(t *testing.T, dir string) []int64 {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, l := range logs {
		base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(l), ".log"), 10, 64)
		if err != nil {
			t.Fatalf("unexpected segment file name %s", l)
		}
		out = append(out, base)
	}
	slices.Sort(out)
	if len(out) == 0 {
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("partition dir: %v", err)
		}
	}
	return out
}

// segmentSizes returns the sizes of the .log files with the given bases.
func segmentSizes(dir string, bases []int64) ([]int64, error) {
	var out []int64
	for _, b := range bases {
		fi, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%020d.log", b)))
		if err != nil {
			return nil, err
		}
		out = append(out, fi.Size())
	}
	return out, nil
}

// alterConfig sets one topic config with IncrementalAlterConfigs.
func alterConfig(t *testing.T, adm *kadm.Client, topic, key, value string) {
	t.Helper()
	resp, err := adm.AlterTopicConfigs(ctxT(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: &value}}, topic)
	if err == nil {
		var r kadm.AlterConfigsResponse
		if r, err = resp.On(topic, nil); err == nil {
			err = r.Err
		}
	}
	if err != nil {
		t.Fatalf("alter %s %s=%s: %v", topic, key, value, err)
	}
}
