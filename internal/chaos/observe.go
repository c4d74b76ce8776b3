package chaos

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Observer watches the cluster while the workload runs and records in the
// history what the checker needs beyond sends and polls:
//
//   - each node's own view of every partition's leader and leader epoch
//     (a Metadata request sent to that node alone), recorded when it
//     changes, for I8: at most one leader per epoch, epochs only increase;
//   - the group's committed offsets as the coordinator answers them,
//     recorded when they change, for I6 across coordinator failovers.
type Observer struct {
	C          *Cluster
	H          *History
	Topic      string
	Group      string // "" = do not watch committed offsets
	Partitions int
	Every      time.Duration
}

// Run observes until ctx ends.
func (o *Observer) Run(ctx context.Context) {
	views := map[[3]int32][2]int32{} // (node, process run, partition) -> (leader, epoch) last recorded
	committed := map[int32]int64{}
	conns := map[int32]*kconn{}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	var cl *kgo.Client
	if o.Group != "" {
		var err error
		cl, err = kgo.NewClient(kgo.SeedBrokers(o.C.AllAddrs()...), kgo.DialTimeout(time.Second),
			kgo.RequestTimeoutOverhead(time.Second), kgo.RetryTimeout(time.Second))
		if err == nil {
			defer cl.Close()
		}
	}
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, nd := range o.C.Nodes {
			if nd.State() == Running {
				o.viewOf(ctx, nd, conns, views)
			}
		}
		if cl != nil {
			o.offsets(ctx, cl, committed)
		}
	}
}

// viewOf asks node nd alone for the topic's metadata and records every
// partition whose leader or epoch changed in nd's view.
func (o *Observer) viewOf(ctx context.Context, nd *Node, conns map[int32]*kconn, views map[[3]int32][2]int32) {
	kc := conns[nd.ID]
	if kc == nil {
		kc = &kconn{addr: nd.Addr}
		conns[nd.ID] = kc
	}
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(9)
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(o.Topic)
	req.Topics = append(req.Topics, t)
	start := o.H.Now()
	resp, err := kc.request(ctx, req)
	if err != nil {
		return
	}
	for _, rt := range resp.(*kmsg.MetadataResponse).Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 && rp.Leader < 0 {
				continue
			}
			key := [3]int32{nd.ID, int32(nd.Run()), rp.Partition}
			v := [2]int32{rp.Leader, rp.LeaderEpoch}
			if old, ok := views[key]; ok && old == v {
				continue
			}
			views[key] = v
			o.H.Add(Op{Kind: KindLeader, Target: fmt.Sprintf("%d#%d", nd.ID, nd.Run()), Outcome: OK, Start: start, End: o.H.Now(),
				Partition: rp.Partition, Leader: rp.Leader, Epoch: rp.LeaderEpoch})
		}
	}
}

// offsets fetches the group's committed offsets and records those that
// changed.
func (o *Observer) offsets(ctx context.Context, cl *kgo.Client, seen map[int32]int64) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = o.Group
	t := kmsg.NewOffsetFetchRequestTopic()
	t.Topic = o.Topic
	for p := range o.Partitions {
		t.Partitions = append(t.Partitions, int32(p))
	}
	req.Topics = append(req.Topics, t)
	start := o.H.Now()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	resp, err := req.RequestWith(rctx, cl)
	cancel()
	if err != nil || resp.ErrorCode != 0 {
		return
	}
	end := o.H.Now()
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 || rp.Offset < 0 || seen[rp.Partition] == rp.Offset {
				continue
			}
			seen[rp.Partition] = rp.Offset
			o.H.Add(Op{Kind: KindCommitted, Outcome: OK, Start: start, End: end, Partition: rp.Partition, Offset: rp.Offset})
		}
	}
}

// kconn is one connection to one broker for requests answered by that
// broker itself (kgo would route them to any broker). It redials after
// an error.
type kconn struct {
	addr string
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
