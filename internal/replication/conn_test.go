package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzLeaderResponse feeds arbitrary response frames to the decoder of a
// follower's Fetch: an error or a response, never a panic or a hang.
func FuzzLeaderResponse(f *testing.F) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = fetchVersion
	t := kmsg.NewFetchResponseTopic()
	t.Topic = "t"
	p := kmsg.NewFetchResponseTopicPartition()
	p.RecordBatches = []byte("batches")
	t.Partitions = append(t.Partitions, p)
	resp.Topics = append(resp.Topics, t)
	good := binary.BigEndian.AppendUint32(nil, 7)
	good = append(good, 0) // no header tags
	f.Add(resp.AppendTo(good))
	f.Add([]byte{0, 0, 0, 7, 2, 1, 200})
	f.Add([]byte{0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 4 {
			return
		}
		c := &leaderConn{corr: 7}
		req := kmsg.NewPtrFetchRequest()
		req.Version = fetchVersion
		r, err := c.decode(req, frame)
		if err == nil && r == nil {
			t.Fatal("no response and no error")
		}
	})
}

// The header's tagged fields are skipped, whatever their sizes claim.
func TestSkipTags(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		rest int // bytes left, -1: an error
	}{
		{[]byte{0, 9, 9}, 2},
		{[]byte{1, 5, 2, 0xaa, 0xbb, 9}, 1},
		{[]byte{1, 5, 3, 0xaa}, -1},
		{[]byte{2, 5, 0}, -1},
		{[]byte{}, -1},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, -1},
	} {
		b, err := skipTags(tc.in)
		if got := len(b); (err != nil) != (tc.rest < 0) || (err == nil && got != tc.rest) {
			t.Errorf("skipTags(%x) = %d bytes left, %v; want %d", tc.in, got, err, tc.rest)
		}
	}
}

// fetchReq is a follower's Fetch of tp0 from offset 0 in epoch 5.
func fetchReq() *kmsg.FetchRequest {
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version, fetch.ReplicaID, fetch.MinBytes, fetch.MaxBytes = fetchVersion, 1, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = tp0.Topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.CurrentLeaderEpoch, fp.LastFetchedEpoch, fp.PartitionMaxBytes = tp0.Partition, 5, -1, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	return fetch
}

// fetchedFromLeader starts a leader of tp0 with n batches, fetches them
// over a leaderConn and returns the connection (the caller closes it),
// the leader's replica and the fetched records.
func fetchedFromLeader(t *testing.T, n int) (*leaderConn, *partition.Partition, []byte) {
	t.Helper()
	leader := startLeader(t, 2)
	lp := leaderReplica(2, 5, openLog(t))
	produce(t, lp, n, "a")
	leader.add(tp0, lp)
	c, err := dialLeader(context.Background(), leader.addr, "test", Security{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.roundTrip(context.Background(), fetchReq(), time.Second)
	if err != nil {
		c.close()
		t.Fatal(err)
	}
	return c, lp, resp.(*kmsg.FetchResponse).Topics[0].Partitions[0].RecordBatches
}

// A frame above bigFrame is read in steps of at most bigFrame, whole.
func TestBigFrameReadInSteps(t *testing.T) {
	defer func(old int) { bigFrame = old }(bigFrame)
	bigFrame = 64
	c, lp, got := fetchedFromLeader(t, 4)
	defer c.close()
	if want := logBytes(t, lp.Log()); len(want) <= 4*bigFrame || !bytes.Equal(got, want) {
		t.Fatalf("fetched %d bytes, the log has %d", len(got), len(want))
	}
}

// A ListOffsets sent while a Fetch response is being applied (an out of
// range partition among others) leaves that response's records intact:
// only Fetch responses reuse the connection's buffer.
func TestListOffsetsKeepsFetchRecords(t *testing.T) {
	c, _, records := fetchedFromLeader(t, 2)
	defer c.close()
	want := bytes.Clone(records)
	if len(want) == 0 {
		t.Fatal("no records fetched")
	}
	list := kmsg.NewPtrListOffsetsRequest()
	list.Version, list.ReplicaID = 4, 1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = tp0.Topic
	lpart := kmsg.NewListOffsetsRequestTopicPartition()
	lpart.CurrentLeaderEpoch, lpart.Timestamp = 5, latestTimestamp
	for i := range int32(5) { // unknown partitions 1-4 make the answer longer than the fetch's header
		lpart.Partition = i
		lt.Partitions = append(lt.Partitions, lpart)
	}
	list.Topics = append(list.Topics, lt)
	if _, err := c.roundTrip(context.Background(), list, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(records, want) {
		t.Fatal("the ListOffsets response overwrote the fetched records")
	}
	if len(want) <= 100 || cap(c.rbuf) < 200 {
		t.Fatalf("the check needs a fetch frame the ListOffsets answer fits in: %d bytes of records", len(want))
	}
}
