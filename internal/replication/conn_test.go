package replication

import (
	"encoding/binary"
	"testing"

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
