package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestEdgeRecords round-trips records at the edges of the format: null
// versus empty keys and values, many headers (null values, empty keys), a
// record of almost max.message.bytes, old and zero timestamps. It checks
// that a batch over the topic's max.message.bytes is refused with
// MESSAGE_TOO_LARGE and leaves no trace, and that a LogAppendTime topic
// stamps records with the broker's clock.
func TestEdgeRecords(t *testing.T) {
	n := startNode(t, "")
	adm := n.admin()
	cl := n.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))

	t.Run("shapes", func(t *testing.T) {
		const topic = "edge"
		createTopic(t, adm, topic, 1, nil)
		big := make([]byte, 900_000)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range big {
			big[i] = byte(rng.Uint32())
		}
		var many []kgo.RecordHeader
		for i := range 40 {
			h := kgo.RecordHeader{Key: fmt.Sprintf("h%02d", i), Value: []byte(fmt.Sprint(i))}
			switch i % 4 {
			case 1:
				h.Value = nil
			case 2:
				h.Value = []byte{}
			case 3:
				h.Key = ""
			}
			many = append(many, h)
		}
		recs := []*kgo.Record{
			{Key: nil, Value: []byte("null key")},
			{Key: []byte("null value"), Value: nil},
			{Key: []byte{}, Value: []byte{}},
			{Key: nil, Value: nil},
			{Key: []byte("headers"), Value: []byte("many"), Headers: many},
			{Key: []byte("big"), Value: big},
			{Key: []byte("old"), Value: []byte("2001"), Timestamp: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)},
			{Key: []byte("epoch"), Value: []byte("1970"), Timestamp: time.UnixMilli(0)},
			{Key: []byte("binary\x00\xff"), Value: []byte{0, 1, 2, 0xff, 0xfe}},
		}
		before := time.Now().Add(-time.Second)
		for i, r := range recs {
			r.Topic = topic
			if r.Timestamp.IsZero() {
				r.Timestamp = before.Add(time.Duration(i) * time.Millisecond)
			}
			// One request each: the big record must not share a batch.
			if _, err := cl.ProduceSync(ctxT(t), r).First(); err != nil {
				t.Fatalf("produce record %d (key %q): %v", i, r.Key, err)
			}
			if r.Offset != int64(i) {
				t.Fatalf("record %d got offset %d", i, r.Offset)
			}
		}
		end := map[int32]int64{0: int64(len(recs))}
		got := consumeRange(t, n, topic, map[int32]int64{0: 0}, end)[0]
		// Fetch limits far below the big record: the broker must still
		// return it whole (KIP-74) or the consumer would never progress.
		small := consumeRange(t, n, topic, map[int32]int64{0: 0}, end, kgo.FetchMaxBytes(1024), kgo.FetchMaxPartitionBytes(1024))[0]
		checkContiguous(t, topic, 0, got, 0, int64(len(recs)))
		checkContiguous(t, topic, 0, small, 0, int64(len(recs)))
		for i, r := range small {
			if !bytes.Equal(r.Value, got[i].Value) {
				t.Errorf("offset %d: read with 1 KiB fetch limits: %d value bytes, want %d", i, len(r.Value), len(got[i].Value))
			}
		}
		for i, r := range got {
			want := recs[i]
			switch {
			case (r.Key == nil) != (want.Key == nil) || !bytes.Equal(r.Key, want.Key):
				t.Errorf("offset %d: key %q (nil %v), want %q (nil %v)", i, r.Key, r.Key == nil, want.Key, want.Key == nil)
			case (r.Value == nil) != (want.Value == nil) || !bytes.Equal(r.Value, want.Value):
				t.Errorf("offset %d: value of %d bytes (nil %v), want %d bytes (nil %v)", i, len(r.Value), r.Value == nil, len(want.Value), want.Value == nil)
			case !sameHeaders(r.Headers, want.Headers):
				t.Errorf("offset %d: headers %v, want %v", i, r.Headers, want.Headers)
			case r.Timestamp.UnixMilli() != want.Timestamp.UnixMilli():
				t.Errorf("offset %d: timestamp %d, want %d", i, r.Timestamp.UnixMilli(), want.Timestamp.UnixMilli())
			}
		}
	})

	t.Run("max.message.bytes", func(t *testing.T) {
		const topic = "edge-small"
		createTopic(t, adm, topic, 1, map[string]*string{"max.message.bytes": ptr("10000")})
		_, err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: topic, Value: bytes.Repeat([]byte("x"), 20_000)}).First()
		if !errors.Is(err, kerr.MessageTooLarge) {
			t.Fatalf("producing 20000 bytes to a topic with max.message.bytes=10000: %v, want MESSAGE_TOO_LARGE", err)
		}
		r, err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: topic, Value: []byte("fits")}).First()
		if err != nil || r.Offset != 0 {
			t.Fatalf("small record after the refused one: offset %v, err %v; want offset 0", r.Offset, err)
		}
	})

	t.Run("LogAppendTime", func(t *testing.T) {
		const topic = "edge-append-time"
		createTopic(t, adm, topic, 1, map[string]*string{"message.timestamp.type": ptr("LogAppendTime")})
		before := time.Now().Add(-time.Second).UnixMilli() // slack for clock granularity
		var recs []*kgo.Record
		for i := range 5 {
			recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Append(nil, i), Timestamp: time.Date(2001, 1, 1, 0, 0, i, 0, time.UTC)})
		}
		if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		after := time.Now().Add(time.Second).UnixMilli()
		got := consumeRange(t, n, topic, map[int32]int64{0: 0}, map[int32]int64{0: 5})[0]
		checkContiguous(t, topic, 0, got, 0, 5)
		for _, r := range got {
			if ts := r.Timestamp.UnixMilli(); ts < before || ts > after || r.Attrs.TimestampType() != 1 {
				t.Errorf("offset %d: timestamp %d (type %d), want a log append time (type 1) in [%d, %d]",
					r.Offset, ts, r.Attrs.TimestampType(), before, after)
			}
		}
		listed := offsets(t, func(ctx context.Context, topics ...string) (kadm.ListedOffsets, error) {
			return adm.ListOffsetsAfterMilli(ctx, before, topics...)
		}, topic)
		if listed[0] != 0 {
			t.Errorf("ListOffsets(timestamp %d) on a LogAppendTime topic = %d, want 0", before, listed[0])
		}
	})
}

// TestLongPollWakesOnProduce parks a consumer's fetch at the end of a
// partition with a long max wait and checks that each newly produced
// record reaches it well before the wait would have expired: the fetch
// is woken by the append, not by its timer.
func TestLongPollWakesOnProduce(t *testing.T) {
	const (
		topic   = "long-poll"
		maxWait = 20 * time.Second
	)
	n := startNode(t, "")
	createTopic(t, n.admin(), topic, 1, nil)
	prod := n.client()
	cons := n.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}),
		kgo.FetchMaxWait(maxWait))
	for i := range 5 {
		// Let the consumer's next fetch reach the broker and park; if it
		// has not, the record is simply returned at once.
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		if err := prod.ProduceSync(ctxT(t), &kgo.Record{Topic: topic, Value: fmt.Append(nil, i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), maxWait/2)
		fs := cons.PollRecords(ctx, 1)
		cancel()
		if err := fs.Err0(); err != nil {
			t.Fatalf("record %d: not delivered within %v of being produced (fetch max wait %v): %v", i, maxWait/2, maxWait, err)
		}
		if recs := fs.Records(); len(recs) != 1 || recs[0].Offset != int64(i) {
			t.Fatalf("record %d: consumer got %v", i, recs)
		}
		t.Logf("record %d delivered after %v", i, time.Since(start))
	}
}
