package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

type consumeOpts struct {
	fromBeginning  bool
	offset         int64
	partition      int32
	maxMessages    int64
	timeout        time.Duration
	printKey       bool
	printOffset    bool
	printPartition bool
	keySeparator   string
	group          string
	isolation      string
}

func init() {
	var o consumeOpts
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic, one per line (like kafka-console-consumer)",
		Long: "Prints record values (optionally offsets and keys) one per line. Starts at the\n" +
			"end of each partition unless --from-beginning or --offset is given.\n" +
			"Fails when no broker answers within 10s of the start.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConsume(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the earliest offset instead of the end")
	f.Int64Var(&o.offset, "offset", -1, "start at this offset (requires --partition)")
	f.Int32Var(&o.partition, "partition", -1, "consume only this partition (-1: all partitions)")
	f.Int64Var(&o.maxMessages, "max-messages", 0, "exit after this many records (0: unlimited)")
	f.DurationVar(&o.timeout, "timeout", 0, "exit when no record arrives for this long (0: wait forever)")
	f.BoolVar(&o.printKey, "print-key", false, "print each record's key before its value")
	f.BoolVar(&o.printOffset, "print-offset", false, "print each record's offset as Offset:N")
	f.BoolVar(&o.printPartition, "print-partition", false, "print each record's partition as Partition:N")
	f.StringVar(&o.keySeparator, "key-separator", "\t", "separator between printed fields")
	f.StringVar(&o.isolation, "isolation", "read_uncommitted", "read_uncommitted, or read_committed: only records of committed transactions, up to the last stable offset (kafka-console-consumer's --isolation-level)")
	f.StringVar(&o.group, "group", "", "consume as a member of this consumer group, committing its offsets (new groups start at the end, or the beginning with --from-beginning)")
	rootCmd.AddCommand(cmd)
}

// startOffset picks where to begin from the flags; it also validates them.
func startOffset(o consumeOpts) (kgo.Offset, error) {
	switch {
	case o.offset >= 0 && o.fromBeginning:
		return kgo.Offset{}, errors.New("--offset and --from-beginning are mutually exclusive")
	case o.offset >= 0 && o.partition < 0:
		return kgo.Offset{}, errors.New("--offset requires --partition")
	case o.offset < -1:
		return kgo.Offset{}, fmt.Errorf("invalid --offset %d", o.offset)
	case o.offset >= 0:
		return kgo.NewOffset().At(o.offset), nil
	case o.fromBeginning:
		return kgo.NewOffset().AtStart(), nil
	}
	return kgo.NewOffset().AtEnd(), nil
}

// isolationOpt is the kgo option of --isolation.
func isolationOpt(level string) (kgo.Opt, error) {
	switch level {
	case "", "read_uncommitted":
		return kgo.FetchIsolationLevel(kgo.ReadUncommitted()), nil
	case "read_committed":
		return kgo.FetchIsolationLevel(kgo.ReadCommitted()), nil
	}
	return nil, fmt.Errorf("invalid --isolation %q: want read_uncommitted or read_committed", level)
}

// consumerOpts builds the kgo options that select what to consume.
func consumerOpts(topic string, o consumeOpts) ([]kgo.Opt, error) {
	iso, err := isolationOpt(o.isolation)
	if err != nil {
		return nil, err
	}
	opts, err := selectOpts(topic, o)
	if err != nil {
		return nil, err
	}
	return append(opts, iso), nil
}

// selectOpts builds the kgo options that select the topic, partitions
// and start.
func selectOpts(topic string, o consumeOpts) ([]kgo.Opt, error) {
	if o.group != "" {
		return groupConsumerOpts(topic, o)
	}
	start, err := startOffset(o)
	if err != nil {
		return nil, err
	}
	if o.partition >= 0 {
		parts := map[string]map[int32]kgo.Offset{topic: {o.partition: start}}
		return []kgo.Opt{kgo.ConsumePartitions(parts)}, nil
	}
	return []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(start)}, nil
}

func runConsume(cmd *cobra.Command, topic string, o consumeOpts) error {
	opts, err := consumerOpts(topic, o)
	if err != nil {
		return err
	}
	cl, err := newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, stop := signalContext(cmd)
	defer stop()
	// A first broker must answer within brokerWait; after that, like
	// kafka-console-consumer, it waits out brokers that come and go.
	if err := waitForBroker(ctx, cl, brokerWait); err != nil {
		return err
	}
	out := bufio.NewWriter(cmd.OutOrStdout())
	n, err := consumeLoop(ctx, cl, out, o)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if o.group != "" {
		if cerr := commitOnExit(cl); err == nil {
			err = cerr
		}
	}
	fmt.Fprintf(os.Stderr, "Processed a total of %d messages\n", n)
	return err
}

// consumeLoop polls and prints until max messages, idle timeout, or signal.
// Returns the number of records printed. Output is flushed after each poll
// so interactive use sees records promptly.
func consumeLoop(ctx context.Context, cl *kgo.Client, out *bufio.Writer, o consumeOpts) (int64, error) {
	var n int64
	idle := newIdleDeadline(o.timeout)
	for {
		fetches, ok := poll(ctx, cl, idle.deadline())
		if !ok {
			return n, nil
		}
		reportFetchErrors(fetches)
		iter := fetches.RecordIter()
		for !iter.Done() {
			idle.touch()
			r := iter.Next()
			writeRecord(out, r, o)
			if o.group != "" {
				cl.MarkCommitRecords(r)
			}
			if n++; o.maxMessages > 0 && n >= o.maxMessages {
				return n, nil
			}
		}
		if err := out.Flush(); err != nil {
			return n, err
		}
	}
}

// idleDeadline tracks when consumption should stop for lack of records.
type idleDeadline struct {
	idle time.Duration
	last time.Time
}

func newIdleDeadline(idle time.Duration) *idleDeadline {
	return &idleDeadline{idle: idle, last: time.Now()}
}

func (d *idleDeadline) touch() { d.last = time.Now() }

// deadline is the stop time, or the zero time when there is no timeout.
func (d *idleDeadline) deadline() time.Time {
	if d.idle <= 0 {
		return time.Time{}
	}
	return d.last.Add(d.idle)
}

// poll polls once, bounded by the deadline if set. ok is false when
// consumption should stop: deadline passed, interrupt, or client closed.
func poll(ctx context.Context, cl *kgo.Client, deadline time.Time) (kgo.Fetches, bool) {
	pctx, cancel := ctx, context.CancelFunc(func() {})
	if !deadline.IsZero() {
		pctx, cancel = context.WithDeadline(ctx, deadline)
	}
	defer cancel()
	fetches := cl.PollFetches(pctx)
	if fetches.IsClientClosed() || (pctx.Err() != nil && fetches.NumRecords() == 0) {
		return nil, false
	}
	return fetches, true
}

// reportFetchErrors prints fetch errors to stderr. They are not fatal: kgo
// keeps retrying (e.g. an unknown topic may appear, a broker may return),
// as kafka-console-consumer keeps waiting.
func reportFetchErrors(fetches kgo.Fetches) {
	fetches.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		fmt.Fprintf(os.Stderr, "error fetching %s[%d]: %v\n", t, p, err)
	})
}

// writeRecord prints one record: [Partition:P SEP][Offset:N SEP][key SEP]value.
// A nil key or value prints as "null", like kafka-console-consumer.
func writeRecord(w io.Writer, r *kgo.Record, o consumeOpts) {
	if o.printPartition {
		fmt.Fprintf(w, "Partition:%d%s", r.Partition, o.keySeparator)
	}
	if o.printOffset {
		fmt.Fprintf(w, "Offset:%d%s", r.Offset, o.keySeparator)
	}
	if o.printKey {
		writeNullable(w, r.Key)
		io.WriteString(w, o.keySeparator)
	}
	writeNullable(w, r.Value)
	io.WriteString(w, "\n")
}

func writeNullable(w io.Writer, b []byte) {
	if b == nil {
		io.WriteString(w, "null")
		return
	}
	w.Write(b)
}
