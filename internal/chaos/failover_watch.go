package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// nodeView is what one node's Metadata response says about the victim.
type nodeView struct {
	ok         bool  // the response had the topic with every partition
	fenced     bool  // the victim is not among the (unfenced) brokers
	leads      int   // partitions the victim leads
	controller int32 // the active controller, -1 if none
}

// viewOf reads a Metadata response.
func viewOf(resp *kmsg.MetadataResponse, topic string, partitions int, victim int32) nodeView {
	v := nodeView{fenced: true, controller: resp.ControllerID}
	for _, b := range resp.Brokers {
		if b.NodeID == victim {
			v.fenced = false
		}
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic || t.ErrorCode != 0 {
			continue
		}
		v.ok = len(t.Partitions) == partitions
		for _, p := range t.Partitions {
			if p.Leader == victim {
				v.leads++
			}
		}
	}
	return v
}

// nodeWatch accumulates, for one survivor, the first times its Metadata
// showed the fence (the victim fenced, or no longer leading a partition
// although it led some before the fault), the fence applied (fenced and
// leading nothing) and a live active controller other than the victim.
type nodeWatch struct {
	node       int32
	victim     int32
	ledBefore  int
	fencedAt   time.Time
	appliedAt  time.Time
	ctlAt      time.Time
	ctlID      int32 // the controller named at ctlAt
	controller int32 // the last one named
}

// observe folds one view, received at at, into w.
func (w *nodeWatch) observe(v nodeView, at time.Time) {
	w.controller = v.controller
	if w.ctlAt.IsZero() && v.controller >= 0 && v.controller != w.victim {
		w.ctlAt, w.ctlID = at, v.controller
	}
	if !v.ok {
		return
	}
	if w.fencedAt.IsZero() && (v.fenced || (w.ledBefore > 0 && v.leads == 0)) {
		w.fencedAt = at
	}
	if w.appliedAt.IsZero() && v.fenced && v.leads == 0 {
		w.appliedAt = at
	}
}

// done says whether w has seen all it waits for.
func (w *nodeWatch) done(wantController bool) bool {
	return !w.appliedAt.IsZero() && (!wantController || !w.ctlAt.IsZero())
}

// times is w relative to the fault at t0.
func (w *nodeWatch) times(t0 time.Time) NodeTimes {
	return NodeTimes{Node: w.node, FencedMs: since(t0, w.fencedAt), AppliedMs: since(t0, w.appliedAt), Controller: w.controller}
}

// since is t - t0 in ms, -1 for a zero t.
func since(t0, t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.Sub(t0).Milliseconds()
}

// watchNode asks node nd alone for the topic's metadata every poll until w
// is done or ctx ends.
func watchNode(ctx context.Context, nd *Node, topic string, partitions int, poll time.Duration, w *nodeWatch, wantController bool) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(nd.Addr), kgo.DialTimeout(time.Second),
		kgo.RequestTimeoutOverhead(2*time.Second), kgo.RetryTimeout(time.Second))
	if err != nil {
		return
	}
	defer cl.Close()
	t := time.NewTicker(poll)
	defer t.Stop()
	for ctx.Err() == nil && !w.done(wantController) {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		resp, err := nodeMetadata(rctx, cl, topic)
		cancel()
		if err == nil {
			w.observe(viewOf(resp, topic, partitions, w.victim), time.Now())
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

// probeController sends a CreateTopics for name (one partition, one
// replica) through the survivors every 100 ms, each attempt given a
// second, and returns when the first one is committed (or the topic
// exists: an earlier attempt was), or the zero time if none is before
// ctx ends.
func probeController(ctx context.Context, addrs []string, name string) time.Time {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DialTimeout(time.Second),
		kgo.RequestTimeoutOverhead(time.Second), kgo.RetryTimeout(time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return clientBackoff }), kgo.MetadataMinAge(metadataMinAge))
	if err != nil {
		return time.Time{}
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(1000)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first time.Time
		wg    sync.WaitGroup
	)
	defer wg.Wait()
	won := make(chan struct{})
	var once sync.Once
	sem := make(chan struct{}, 8)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case sem <- struct{}{}:
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				actx, acancel := context.WithTimeout(ctx, time.Second)
				defer acancel()
				resp, err := adm.CreateTopic(actx, 1, 1, nil, name)
				if err == nil {
					err = resp.Err
				}
				if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
					at := time.Now()
					mu.Lock()
					if first.IsZero() || at.Before(first) {
						first = at
					}
					mu.Unlock()
					once.Do(func() { close(won) })
				}
			}()
		case <-ctx.Done():
		case <-won:
		}
		select {
		case <-ctx.Done():
			return time.Time{}
		case <-won:
			cancel()
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			return first
		case <-t.C:
		}
	}
}

// survivorsOf lists the nodes other than victim.
func survivorsOf(c *Cluster, victim int32) []*Node {
	return slices.DeleteFunc(slices.Clone(c.Nodes), func(nd *Node) bool { return nd.ID == victim })
}

// partView is one partition as a node's Metadata shows it.
type partView struct {
	leader        int32
	replicas, isr []int32 // isr sorted
}

// clusterView is the topic as every node's Metadata shows it alike.
type clusterView struct {
	controller int32
	parts      []partView // by partition
}

// notFull counts the partitions without a leader or a full ISR.
func (v clusterView) notFull() int {
	n := 0
	for _, pv := range v.parts {
		if pv.leader < 0 || len(pv.isr) != len(pv.replicas) {
			n++
		}
	}
	return n
}

// preferredBy lists the partitions whose preferred (first) replica is
// node (every partition for node -1), and those of them that replica does
// not lead.
func (v clusterView) preferredBy(node int32) (all, off []int32) {
	for p, pv := range v.parts {
		if len(pv.replicas) == 0 || (node >= 0 && pv.replicas[0] != node) {
			continue
		}
		all = append(all, int32(p))
		if pv.leader != pv.replicas[0] {
			off = append(off, int32(p))
		}
	}
	return all, off
}

// leaders lists the partitions' leaders.
func (v clusterView) leaders() []int32 {
	out := make([]int32, len(v.parts))
	for p, pv := range v.parts {
		out[p] = pv.leader
	}
	return out
}

// viewFrom reads one node's Metadata response for topic.
func viewFrom(resp *kmsg.MetadataResponse, topic string, partitions int) (clusterView, string) {
	v := clusterView{controller: resp.ControllerID}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return v, err.Error()
		}
		if len(t.Partitions) != partitions {
			return v, fmt.Sprintf("%d of %d partitions", len(t.Partitions), partitions)
		}
		v.parts = make([]partView, partitions)
		for _, p := range t.Partitions {
			if p.Partition < 0 || int(p.Partition) >= partitions {
				return v, fmt.Sprintf("partition %d out of range", p.Partition)
			}
			v.parts[p.Partition] = partView{leader: p.Leader, replicas: p.Replicas, isr: sorted(p.ISR)}
		}
		return v, ""
	}
	return v, "no metadata for " + topic
}

// agree says why views differ ("" if they do not).
func agree(views []clusterView) string {
	for i := 1; i < len(views); i++ {
		a, b := views[0], views[i]
		if a.controller != b.controller {
			return fmt.Sprintf("nodes name controllers %d and %d", a.controller, b.controller)
		}
		for p := range a.parts {
			if a.parts[p].leader != b.parts[p].leader || !slices.Equal(a.parts[p].isr, b.parts[p].isr) {
				return fmt.Sprintf("partition %d: nodes disagree on its leader or ISR", p)
			}
		}
	}
	return ""
}

// view asks every node alone for the topic's metadata and returns it
// when they all agree, or why not.
func (f *failover) view(ctx context.Context) (clusterView, string) {
	views := make([]clusterView, len(f.c.Nodes))
	for i, nd := range f.c.Nodes {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := nodeMetadata(rctx, f.nodeClient(nd), failoverTopic)
		cancel()
		if err != nil {
			return clusterView{}, fmt.Sprintf("node %d: %v", nd.ID, err)
		}
		var why string
		if views[i], why = viewFrom(resp, failoverTopic, f.cfg.Partitions); why != "" {
			return clusterView{}, fmt.Sprintf("node %d: %s", nd.ID, why)
		}
	}
	if why := agree(views); why != "" {
		return clusterView{}, why
	}
	return views[0], ""
}

// leadersNow is the topic's partition leaders as the first of nodes that
// answers shows them, nil if none does.
func (f *failover) leadersNow(ctx context.Context, nodes []*Node) []int32 {
	for _, nd := range nodes {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := nodeMetadata(rctx, f.nodeClient(nd), failoverTopic)
		cancel()
		if err != nil {
			continue
		}
		if v, why := viewFrom(resp, failoverTopic, f.cfg.Partitions); why == "" {
			return v.leaders()
		}
	}
	return nil
}

// settleWatch counts, for one node, the times its Metadata turned bad: a
// broker gone from its brokers, a partition of the topic without a leader,
// an ISR smaller than rf. It starts from a good state: every broker of
// the cluster registered, every partition led with a full ISR.
type settleWatch struct {
	rf                 int
	brokers            map[int32]bool // in the last response
	leaderless, shrunk bool           // in the last response with the topic
	s                  SettleStats
}

func newSettleWatch(brokers []int32, rf int) *settleWatch {
	w := &settleWatch{rf: rf, brokers: map[int32]bool{}}
	for _, id := range brokers {
		w.brokers[id] = true
	}
	return w
}

// observe folds one Metadata response into w.
func (w *settleWatch) observe(resp *kmsg.MetadataResponse, topic string, partitions int) {
	now := map[int32]bool{}
	for _, b := range resp.Brokers {
		now[b.NodeID] = true
	}
	for id := range w.brokers {
		if !now[id] {
			w.s.Fences++
		}
	}
	w.brokers = now
	v, why := viewFrom(resp, topic, partitions)
	if why != "" {
		w.s.Errors++
		return
	}
	leaderless, shrunk := 0, 0
	for _, pv := range v.parts {
		if pv.leader < 0 {
			leaderless++
		}
		if len(pv.isr) < w.rf {
			shrunk++
		}
	}
	w.s.MaxLeaderless = max(w.s.MaxLeaderless, leaderless)
	if leaderless > 0 && !w.leaderless {
		w.s.Leaderless++
	}
	if shrunk > 0 && !w.shrunk {
		w.s.Shrinks++
	}
	w.leaderless, w.shrunk = leaderless > 0, shrunk > 0
}

// settleNode asks the node behind cl for the topic's metadata every poll
// until ctx ends, folding every answer into w (a failed request counts as
// an error).
func settleNode(ctx context.Context, cl *kgo.Client, topic string, partitions int, poll time.Duration, w *settleWatch) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		resp, err := nodeMetadata(rctx, cl, topic)
		cancel()
		switch {
		case err == nil:
			w.observe(resp, topic, partitions)
		case ctx.Err() == nil:
			w.s.Errors++
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

// settle watches every node's Metadata for cfg.Settle (nil if 0) and
// returns what turned bad meanwhile.
func (f *failover) settle(ctx context.Context) *SettleStats {
	if f.cfg.Settle <= 0 {
		return nil
	}
	// start is read before the deadline is set, so the measured watch
	// is never shorter than cfg.Settle.
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, f.cfg.Settle)
	defer cancel()
	ids := make([]int32, len(f.c.Nodes))
	for i, nd := range f.c.Nodes {
		ids[i] = nd.ID
	}
	ws := make([]*settleWatch, len(f.c.Nodes))
	var wg sync.WaitGroup
	for i, nd := range f.c.Nodes {
		ws[i] = newSettleWatch(ids, f.rf)
		cl := f.nodeClient(nd)
		wg.Add(1)
		go func() {
			defer wg.Done()
			settleNode(sctx, cl, failoverTopic, f.cfg.Partitions, f.cfg.Poll, ws[i])
		}()
	}
	wg.Wait()
	s := &SettleStats{Ms: time.Since(start).Milliseconds()}
	for _, w := range ws {
		s.add(w.s)
	}
	return s
}

// nodeClient is a client that talks to nd alone (through its seed broker).
func (f *failover) nodeClient(nd *Node) *kgo.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cl := f.nodeCls[nd.ID]; cl != nil {
		return cl
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(nd.Addr), kgo.DialTimeout(time.Second),
		kgo.RequestTimeoutOverhead(2*time.Second), kgo.RetryTimeout(time.Second))
	if err != nil { // only for bad options
		panic(err)
	}
	if f.nodeCls == nil {
		f.nodeCls = map[int32]*kgo.Client{}
	}
	f.nodeCls[nd.ID] = cl
	return cl
}

// closeNodeClients closes the clients of nodeClient.
func (f *failover) closeNodeClients() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cl := range f.nodeCls {
		cl.Close()
	}
	f.nodeCls = nil
}

// nodeMetadata asks the node behind cl's only seed for topic's metadata.
func nodeMetadata(ctx context.Context, cl *kgo.Client, topic string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}
