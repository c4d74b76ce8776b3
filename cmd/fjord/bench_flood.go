package main

// fjord bench flood: many connections producing as fast as they can, past
// what the broker's disk takes, to check that overload costs back-pressure
// and bounded memory, not a crash (issue 12). Each connection is a raw
// Kafka-protocol socket (no client library: 2,000 clients would measure
// the clients) sending Produce v9 requests with acks=1, one request in
// flight per connection, and counts answers and errors. With --pid it
// samples the broker process's resident memory and reports its peak.

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordlog/fjord/internal/record"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// benchFloodOpts are the flood's flags.
type benchFloodOpts struct {
	topic       string
	partitions  int32
	connections int
	batchBytes  int
	duration    time.Duration
	pid         int
}

func init() {
	var o benchFloodOpts
	cmd := &cobra.Command{
		Use:   "flood",
		Short: "Many connections producing past the broker's speed: answers, errors and the broker's peak memory",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runBenchFlood(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "flood", "topic to produce to (created if missing)")
	f.Int32Var(&o.partitions, "partitions", 6, "partitions when creating the topic")
	f.IntVar(&o.connections, "connections", 2000, "producing connections")
	f.IntVar(&o.batchBytes, "batch-bytes", 1<<20, "bytes per produce request (one batch of 1 KiB records)")
	f.DurationVar(&o.duration, "duration", 20*time.Second, "how long to flood")
	f.IntVar(&o.pid, "pid", 0, "broker process id whose peak resident memory to report (Linux)")
	for _, c := range rootCmd.Commands() {
		if c.Name() == "bench" {
			c.AddCommand(cmd)
		}
	}
}

// floodStats are the flood's counters.
type floodStats struct {
	answered, failed, closed atomic.Int64
	bytes                    atomic.Int64
	peakRSS                  atomic.Int64
	firstErr                 atomic.Pointer[error]
}

// fail counts a connection's end: an error code answered, or the
// connection closed.
func (st *floodStats) fail(err error) {
	st.firstErr.CompareAndSwap(nil, &err)
	if _, ok := err.(*kerr.Error); ok {
		st.failed.Add(1)
		return
	}
	st.closed.Add(1)
}

func runBenchFlood(cmd *cobra.Command, o benchFloodOpts) error {
	ctx, stop := signalContext(cmd)
	defer stop()
	if err := ensureTopic(ctx, o.topic, o.partitions, true); err != nil {
		return err
	}
	seeds, err := parseSeeds(bootstrapServers)
	if err != nil {
		return err
	}
	batch, err := floodBatch(o.batchBytes)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var st floodStats
	var wg sync.WaitGroup
	go sampleRSS(ctx, o.pid, &st)
	start := time.Now()
	for i := range o.connections {
		wg.Go(func() { floodConn(ctx, seeds[i%len(seeds)], o, int32(i)%o.partitions, batch, &st) })
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	fmt.Fprintf(cmd.OutOrStdout(), "%d connections, %.0f s: %d answered (%.1f MB/s), %d errors, %d connections closed by the broker, broker peak RSS %s\n",
		o.connections, secs, st.answered.Load(), float64(st.bytes.Load())/secs/mib, st.failed.Load(), st.closed.Load(), rssText(st.peakRSS.Load()))
	if e := st.firstErr.Load(); e != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "first error: %v\n", *e)
	}
	return nil
}

// floodBatch builds one uncompressed batch of 1 KiB records of about n
// bytes, without a producer id, so it may be sent again and again.
func floodBatch(n int) ([]byte, error) {
	recs := make([]record.Record, max(1, n/1100))
	for i := range recs {
		recs[i] = record.Record{OffsetDelta: int32(i), Value: make([]byte, 1024)}
	}
	return record.BuildBatch(record.CompressionNone, time.Now().UnixMilli(), recs)
}

// floodConn produces batch to one partition over one connection until ctx
// ends, one request at a time.
func floodConn(ctx context.Context, addr string, o benchFloodOpts, part int32, batch []byte, st *floodStats) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		st.fail(err)
		return
	}
	defer nc.Close()
	context.AfterFunc(ctx, func() { nc.Close() })
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 1, 30000
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: o.topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: part, Records: batch}}}}
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fjord-flood")).AppendRequest(nil, req, 1)
	br := bufio.NewReader(nc)
	for ctx.Err() == nil {
		if err := floodOnce(nc, br, frame, req); err != nil {
			if ctx.Err() == nil {
				st.fail(err)
			}
			return
		}
		st.answered.Add(1)
		st.bytes.Add(int64(len(batch)))
	}
}

// floodOnce sends one produce request and reads its answer.
func floodOnce(nc net.Conn, br *bufio.Reader, frame []byte, req *kmsg.ProduceRequest) error {
	if _, err := nc.Write(frame); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(br, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(br, body); err != nil {
		return err
	}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Version = req.Version
	if len(body) < 5 { // correlation id, header tags (v9 is flexible)
		return io.ErrUnexpectedEOF
	}
	if err := resp.ReadFrom(body[5:]); err != nil {
		return err
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		return kerr.ErrorForCode(code)
	}
	return nil
}

// sampleRSS records the peak resident memory of pid every 100 ms.
func sampleRSS(ctx context.Context, pid int, st *floodStats) {
	if pid <= 0 {
		return
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for ctx.Err() == nil {
		if kb, err := vmRSS(pid); err == nil && kb*1024 > st.peakRSS.Load() {
			st.peakRSS.Store(kb * 1024)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// vmRSS reads VmRSS (KiB) from /proc/<pid>/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

func rssText(b int64) string {
	if b == 0 {
		return "not sampled (--pid)"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/mib)
}
