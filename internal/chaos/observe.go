package chaos

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Observer watches the cluster while the workload runs and records in the
// history what the checker needs beyond sends and polls:
//
//   - each node's own view of every partition's leader and leader epoch
//     (a Metadata request sent to that node alone), recorded when it
//     changes, for I8: at most one leader per epoch, epochs only increase;
//   - the group's committed offsets as a current coordinator answers them,
//     recorded when they change, for I6 across coordinator failovers. Every
//     node is asked; an answer counts only if that node, asked right
//     after, leads its __consumer_offsets partitions at the newest leader
//     epochs any node has shown. A deposed coordinator that has not heard
//     of its successor yet (paused, or cut off from the controller) still
//     answers from its old state, as Kafka's would: that is a stale read,
//     not a lost commit.
type Observer struct {
	C          *Cluster
	H          *History
	Topic      string
	Group      string // "" = do not watch committed offsets
	Partitions int
	Every      time.Duration

	conns    map[int32]*kconn
	views    map[[3]int32][2]int32 // (node, process run, partition) -> (leader, epoch) last recorded
	newest   map[int32]int32       // __consumer_offsets partition -> newest leader epoch seen
	recorded map[int32]int64       // partition -> committed offset last recorded
}

// offsetsTopic is Kafka's internal topic of committed offsets.
const offsetsTopic = "__consumer_offsets"

// Run observes until ctx ends.
func (o *Observer) Run(ctx context.Context) {
	o.conns, o.views = map[int32]*kconn{}, map[[3]int32][2]int32{}
	o.newest, o.recorded = map[int32]int32{}, map[int32]int64{}
	defer func() {
		for _, c := range o.conns {
			c.close()
		}
	}()
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var running []*Node
		for _, nd := range o.C.Nodes {
			if nd.State() == Running {
				running = append(running, nd)
			}
		}
		for _, nd := range running {
			o.viewOf(ctx, nd)
		}
		if o.Group != "" {
			for _, nd := range running {
				o.offsetsFrom(ctx, nd)
			}
		}
	}
}

// conn returns the connection to nd.
func (o *Observer) conn(nd *Node) *kconn {
	kc := o.conns[nd.ID]
	if kc == nil {
		kc = &kconn{addr: nd.Addr, sec: o.C.sec, user: adminUser}
		o.conns[nd.ID] = kc
	}
	return kc
}

// metadata asks nd alone for topics.
func (o *Observer) metadata(ctx context.Context, nd *Node, topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(9)
	for _, name := range topics {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, t)
	}
	resp, err := o.conn(nd).request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// viewOf asks node nd alone for the topic's metadata and records every
// partition whose leader or epoch changed in nd's view; it also notes the
// newest epochs of __consumer_offsets.
func (o *Observer) viewOf(ctx context.Context, nd *Node) {
	start := o.H.Now()
	resp, err := o.metadata(ctx, nd, o.Topic, offsetsTopic)
	if err != nil {
		return
	}
	o.noteOffsetsEpochs(resp)
	for _, rt := range resp.Topics {
		if rt.Topic == nil || *rt.Topic != o.Topic {
			continue
		}
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 && rp.Leader < 0 {
				continue
			}
			key := [3]int32{nd.ID, int32(nd.Run()), rp.Partition}
			v := [2]int32{rp.Leader, rp.LeaderEpoch}
			if old, ok := o.views[key]; ok && old == v {
				continue
			}
			o.views[key] = v
			o.H.Add(Op{Kind: KindLeader, Target: fmt.Sprintf("%d#%d", nd.ID, nd.Run()), Outcome: OK, Start: start, End: o.H.Now(),
				Partition: rp.Partition, Leader: rp.Leader, Epoch: rp.LeaderEpoch})
		}
	}
}

// noteOffsetsEpochs raises the newest known leader epochs of
// __consumer_offsets from one node's metadata.
func (o *Observer) noteOffsetsEpochs(resp *kmsg.MetadataResponse) {
	for _, rt := range resp.Topics {
		if rt.Topic == nil || *rt.Topic != offsetsTopic {
			continue
		}
		for _, rp := range rt.Partitions {
			o.newest[rp.Partition] = max(o.newest[rp.Partition], rp.LeaderEpoch)
		}
	}
}

// current reports whether nd, by its own metadata, leads its
// __consumer_offsets partitions at the newest epochs seen anywhere.
func (o *Observer) current(ctx context.Context, nd *Node) bool {
	resp, err := o.metadata(ctx, nd, offsetsTopic)
	if err != nil {
		return false
	}
	o.noteOffsetsEpochs(resp)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.Leader == nd.ID && rp.LeaderEpoch < o.newest[rp.Partition] {
				return false
			}
		}
	}
	return true
}

// offsetsFrom asks nd for the group's committed offsets and records those
// that changed, if nd coordinates the group and is current.
func (o *Observer) offsetsFrom(ctx context.Context, nd *Node) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.SetVersion(7)
	req.Group = o.Group
	t := kmsg.NewOffsetFetchRequestTopic()
	t.Topic = o.Topic
	for p := range o.Partitions {
		t.Partitions = append(t.Partitions, int32(p))
	}
	req.Topics = append(req.Topics, t)
	start := o.H.Now()
	r, err := o.conn(nd).request(ctx, req)
	if err != nil {
		return
	}
	end := o.H.Now()
	resp := r.(*kmsg.OffsetFetchResponse)
	if resp.ErrorCode != 0 || !o.current(ctx, nd) {
		return
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 || rp.Offset < 0 || o.recorded[rp.Partition] == rp.Offset {
				continue
			}
			o.recorded[rp.Partition] = rp.Offset
			o.H.Add(Op{Kind: KindCommitted, Target: fmt.Sprint(nd.ID), Outcome: OK, Start: start, End: end,
				Partition: rp.Partition, Offset: rp.Offset})
		}
	}
}

// kconn is one connection to one broker for requests answered by that
// broker itself (kgo would route them to any broker). It redials after
// an error. On a secure cluster (sec set) it speaks TLS and
// authenticates as user.
type kconn struct {
	addr string
	sec  *security
	user string
	c    net.Conn
	r    *bufio.Reader
	id   int32
}

func (k *kconn) close() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// request sends req and reads its response within a second.
func (k *kconn) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if k.c == nil {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "tcp", k.addr)
		if err != nil {
			return nil, err
		}
		k.c, k.r = c, bufio.NewReader(c)
		if k.sec != nil {
			if err := k.secure(ctx); err != nil {
				k.close()
				return nil, err
			}
		}
	}
	resp, err := k.roundTrip(req)
	if err != nil {
		k.close()
	}
	return resp, err
}

func (k *kconn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	_ = k.c.SetDeadline(time.Now().Add(time.Second))
	k.id++
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("chaos-observer"))
	if _, err := k.c.Write(f.AppendRequest(nil, req, k.id)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(k.r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > 64<<20 {
		return nil, fmt.Errorf("response size %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(k.r, b); err != nil {
		return nil, err
	}
	if id := int32(binary.BigEndian.Uint32(b)); id != k.id {
		return nil, fmt.Errorf("correlation id %d, want %d", id, k.id)
	}
	b = b[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() { // response header v1: tagged fields, none expected
		if len(b) == 0 || b[0] != 0 {
			return nil, fmt.Errorf("unexpected response header tags")
		}
		b = b[1:]
	}
	return resp, resp.ReadFrom(b)
}
