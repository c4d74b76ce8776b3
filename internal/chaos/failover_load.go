package chaos

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ackBook keeps, per partition, the first acknowledged write of a record
// sent at or after the fault (the end of that partition's unavailability
// window) and the last acknowledged write of any record (to see that the
// load is steady before a fault).
type ackBook struct {
	mu      sync.Mutex
	faultAt time.Time   // zero: not armed
	first   []time.Time // zero: no acknowledged write since faultAt yet
	last    []time.Time
}

func newAckBook(partitions int) *ackBook {
	return &ackBook{first: make([]time.Time, partitions), last: make([]time.Time, partitions)}
}

// arm starts a measurement at the fault time t, forgetting the last one.
func (b *ackBook) arm(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faultAt = t
	clear(b.first)
}

// ack records that the record to partition p sent at start was
// acknowledged at end.
func (b *ackBook) ack(p int32, start, end time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if int(p) >= len(b.first) || p < 0 {
		return
	}
	if end.After(b.last[p]) {
		b.last[p] = end
	}
	if b.faultAt.IsZero() || start.Before(b.faultAt) {
		return
	}
	if b.first[p].IsZero() || end.Before(b.first[p]) {
		b.first[p] = end
	}
}

// windows returns each partition's window since the fault, -1 where no
// record sent after it has been acknowledged yet.
func (b *ackBook) windows() []time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]time.Duration, len(b.first))
	for p, f := range b.first {
		if f.IsZero() || b.faultAt.IsZero() {
			out[p] = -1
			continue
		}
		out[p] = f.Sub(b.faultAt)
	}
	return out
}

// pending counts the partitions without an acknowledged write since the
// fault.
func (b *ackBook) pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, f := range b.first {
		if f.IsZero() {
			n++
		}
	}
	return n
}

// ackedSince counts the partitions with an acknowledged write at or after t.
func (b *ackBook) ackedSince(t time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, l := range b.last {
		if !l.Before(t) {
			n++
		}
	}
	return n
}

// maxInflight bounds the records outstanding per partition, so an
// unavailable partition holds a few records, not one per interval.
const maxInflight = 4

// failoverLoad is one acks=all producer client writing a small record to
// every partition of a topic every interval (at most maxInflight
// outstanding per partition), recording acknowledgements in an ackBook.
// It is not idempotent: every acknowledgement is then a write past the
// high watermark, a retry included, and no producer-state rule on the
// broker can make a partition look available or not.
type failoverLoad struct {
	cl       *kgo.Client
	dialer   *cutDialer
	book     *ackBook
	topic    string
	interval time.Duration
	inflight []atomic.Int32
	errs     atomic.Int64
	cancel   context.CancelFunc
	done     chan struct{}
}

// Client settings of the load: small backoffs and a short request
// timeout, so the client notices a moved leader soon and the windows
// measure the cluster rather than the client. A produce request to a
// paused or cut-off leader is abandoned after produceTimeout plus
// requestOverhead.
const (
	produceTimeout  = time.Second
	requestOverhead = 500 * time.Millisecond
	clientBackoff   = 50 * time.Millisecond
	metadataMinAge  = 100 * time.Millisecond
)

// startLoad starts the load on every partition of topic; records not
// acknowledged within deliveryTimeout fail.
func startLoad(c *Cluster, topic string, partitions int, interval, deliveryTimeout time.Duration) (*failoverLoad, error) {
	d := &cutDialer{conns: map[*cutConn]struct{}{}}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.AllAddrs()...), kgo.ClientID("fjord-bench-failover"), kgo.Dialer(d.dial),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.MaxProduceRequestsInflightPerBroker(5), kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(partitions*maxInflight+1024),
		kgo.ProduceRequestTimeout(produceTimeout), kgo.RequestTimeoutOverhead(requestOverhead),
		kgo.RecordDeliveryTimeout(deliveryTimeout),
		kgo.RetryBackoffFn(func(int) time.Duration { return clientBackoff }),
		kgo.MetadataMinAge(metadataMinAge),
	)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &failoverLoad{cl: cl, dialer: d, book: newAckBook(partitions), topic: topic, interval: interval,
		inflight: make([]atomic.Int32, partitions), cancel: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l, nil
}

var failoverValue = []byte("fjord-failover")

func (l *failoverLoad) run(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.interval)
	defer t.Stop()
	for {
		for p := range l.inflight {
			if l.inflight[p].Load() >= maxInflight {
				continue
			}
			l.inflight[p].Add(1)
			start := time.Now()
			r := &kgo.Record{Topic: l.topic, Partition: int32(p), Value: failoverValue}
			l.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				end := time.Now()
				l.inflight[r.Partition].Add(-1)
				if err != nil {
					if ctx.Err() == nil {
						l.errs.Add(1)
					}
					return
				}
				l.book.ack(r.Partition, start, end)
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops producing and closes the client (failing what is buffered).
func (l *failoverLoad) Close() {
	l.cancel()
	<-l.done
	l.cl.Close()
}

// cutDialer dials for the load client and can cut it off from one
// address: its connections there are closed and new ones refused, as if
// the process behind it had died. A paused or cut-off broker answers
// nothing, and a client finds that out only by its own timeouts (and may
// keep asking it for metadata meanwhile); cutting the client off at the
// fault takes that out of the windows, so that they measure when the
// cluster takes writes again. The nodes are not affected.
type cutDialer struct {
	d     net.Dialer
	mu    sync.Mutex
	down  string // refused address, "" for none
	conns map[*cutConn]struct{}
}

type cutConn struct {
	net.Conn
	d    *cutDialer
	addr string
}

func (c *cutConn) Close() error {
	c.d.mu.Lock()
	delete(c.d.conns, c)
	c.d.mu.Unlock()
	return c.Conn.Close()
}

func (d *cutDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	down := d.down
	d.mu.Unlock()
	if addr == down {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := d.d.DialContext(dctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := &cutConn{Conn: conn, d: d, addr: addr}
	d.mu.Lock()
	defer d.mu.Unlock()
	if addr == d.down { // cut while dialing
		conn.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	d.conns[c] = struct{}{}
	return c, nil
}

// cut closes the connections to addr and refuses new ones until restore.
func (d *cutDialer) cut(addr string) {
	d.mu.Lock()
	d.down = addr
	var closing []*cutConn
	for c := range d.conns {
		if c.addr == addr {
			closing = append(closing, c)
		}
	}
	d.mu.Unlock()
	for _, c := range closing {
		c.Close()
	}
}

// restore lets the client connect anywhere again.
func (d *cutDialer) restore() {
	d.mu.Lock()
	d.down = ""
	d.mu.Unlock()
}
