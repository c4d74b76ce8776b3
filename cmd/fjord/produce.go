package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// maxLineBytes bounds one stdin line (one record) for `fjord produce`.
const maxLineBytes = 16 << 20

// defaultDeliveryTimeout is Kafka's delivery.timeout.ms default.
const defaultDeliveryTimeout = 2 * time.Minute

type produceOpts struct {
	keySeparator string
	acks         string
	partition    int32
	compression  string
	idempotent   bool
	// deliveryTimeout fails a record not acknowledged this long after
	// it was read (Kafka's delivery.timeout.ms); 0: no limit.
	deliveryTimeout time.Duration
}

func init() {
	var o produceOpts
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce stdin lines as records (like kafka-console-producer)",
		Long: "Reads stdin; each line becomes one record value, or \"key SEP value\" when\n" +
			"--key-separator is set. Flushes at EOF and exits non-zero if any record failed.\n" +
			"Fails at once when no broker answers within 10s, and fails records no\n" +
			"broker acknowledged within --delivery-timeout (Kafka's delivery.timeout.ms).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProduce(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.keySeparator, "key-separator", "", "split each line into key and value at the first SEP")
	f.StringVar(&o.acks, "acks", "all", "required acks: all (-1), 1 or 0")
	f.Int32Var(&o.partition, "partition", -1, "produce every record to this partition (-1: default partitioner)")
	f.StringVar(&o.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.BoolVar(&o.idempotent, "idempotent", false, "enable the idempotent producer (needs InitProducerId; requires --acks all)")
	f.DurationVar(&o.deliveryTimeout, "delivery-timeout", defaultDeliveryTimeout, "fail a record no broker acknowledged within this time (Kafka's delivery.timeout.ms; 0: wait forever, else at least 1s)")
	rootCmd.AddCommand(cmd)
}

// producerOpts converts the shared produce flags to kgo options.
func producerOpts(topic, acks, compression string, idempotent bool) ([]kgo.Opt, error) {
	a, err := parseAcks(acks)
	if err != nil {
		return nil, err
	}
	codec, err := parseCompression(compression)
	if err != nil {
		return nil, err
	}
	if idempotent && a != kgo.AllISRAcks() {
		return nil, errors.New("--idempotent requires --acks all")
	}
	opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(a), kgo.ProducerBatchCompression(codec)}
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return opts, nil
}

func runProduce(cmd *cobra.Command, topic string, o produceOpts) error {
	opts, err := produceCommandOpts(topic, o)
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
	if err := waitForBroker(ctx, cl, brokerWait); err != nil {
		return err
	}
	return produceLines(ctx, cl, cmd.InOrStdin(), o)
}

// produceCommandOpts are `fjord produce`'s kgo options. Like
// kafka-console-producer (the Java producer's allow.auto.create.topics
// defaults to true), its Metadata requests let the broker auto-create a
// missing topic when auto.create.topics.enable allows; kgo asks for it
// only with AllowAutoTopicCreation, and otherwise fails the records with
// UNKNOWN_TOPIC_OR_PARTITION.
func produceCommandOpts(topic string, o produceOpts) ([]kgo.Opt, error) {
	opts, err := producerOpts(topic, o.acks, o.compression, o.idempotent)
	if err != nil {
		return nil, err
	}
	if o.deliveryTimeout != 0 && o.deliveryTimeout < time.Second {
		return nil, fmt.Errorf("invalid --delivery-timeout %v: want 0 (no limit) or at least 1s", o.deliveryTimeout)
	}
	opts = append(opts, kgo.AllowAutoTopicCreation(), kgo.RecordDeliveryTimeout(o.deliveryTimeout))
	if o.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	return opts, nil
}

// produceErrors collects promise failures; promises run serially, but the
// reader goroutine reads the result, so it is guarded.
type produceErrors struct {
	mu     sync.Mutex
	failed int
	first  error
}

func (p *produceErrors) promise(_ *kgo.Record, err error) {
	if err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed == 0 {
		p.first = err
	}
	p.failed++
	fmt.Fprintf(os.Stderr, "error producing record: %v\n", err)
}

func (p *produceErrors) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed == 0 {
		return nil
	}
	if errors.Is(p.first, kgo.ErrRecordTimeout) {
		return fmt.Errorf("%d record(s) failed: no broker acknowledged them within --delivery-timeout, first: %w", p.failed, p.first)
	}
	return fmt.Errorf("%d record(s) failed, first: %w", p.failed, p.first)
}

// produceLines produces one record per input line, then flushes.
func produceLines(ctx context.Context, cl *kgo.Client, in io.Reader, o produceOpts) error {
	var perr produceErrors
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	var readErr error
	for line := 1; sc.Scan(); line++ {
		r, err := lineRecord(sc.Text(), o.keySeparator, line)
		if err != nil {
			readErr = err
			break
		}
		r.Partition = o.partition
		cl.Produce(ctx, r, perr.promise)
	}
	if readErr == nil {
		readErr = sc.Err()
	}
	flushErr := cl.Flush(ctx)
	return errors.Join(readErr, perr.err(), flushErr)
}

// lineRecord parses one input line. With a separator, a line lacking it is
// an error (as in kafka-console-producer with parse.key=true).
func lineRecord(line, sep string, lineNo int) (*kgo.Record, error) {
	line = strings.TrimSuffix(line, "\r")
	if sep == "" {
		return &kgo.Record{Value: []byte(line)}, nil
	}
	k, v, ok := strings.Cut(line, sep)
	if !ok {
		return nil, fmt.Errorf("no key separator %q found on line %d", sep, lineNo)
	}
	return &kgo.Record{Key: []byte(k), Value: []byte(v)}, nil
}
