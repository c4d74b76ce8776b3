package main

// `fjord topic delete-records` (kafka-delete-records) and `fjord cluster
// log-dirs` (kafka-log-dirs --describe).

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ---- topic delete-records ----

type deleteRecordsOpts struct {
	topic      string
	partition  int32
	offset     int64
	offsetJSON string
}

func newTopicDeleteRecordsCmd() *cobra.Command {
	var o deleteRecordsOpts
	cmd := &cobra.Command{
		Use:   "delete-records",
		Short: "Delete the records below an offset (like kafka-delete-records)",
		Long: "Advance partitions' log start offsets: records below the offset are no\n" +
			"longer readable and their segments are deleted. Offset -1 means the high\n" +
			"watermark. Either --topic, --partition and --offset, or --offset-json-file\n" +
			"with kafka-delete-records' JSON:\n" +
			`  {"partitions":[{"topic":"t","partition":0,"offset":5}],"version":1}` + "\n" +
			"Prints each partition's new low watermark.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			offsets, err := deleteRecordsTargets(o)
			if err != nil {
				return err
			}
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteRecords(ctx, offsets)
				if err != nil {
					return err
				}
				return writeDeleteRecords(cmd.OutOrStdout(), offsets, resps)
			})
		},
	}
	cmd.Flags().StringVar(&o.topic, "topic", "", "the topic")
	cmd.Flags().Int32Var(&o.partition, "partition", 0, "the partition")
	cmd.Flags().Int64Var(&o.offset, "offset", -1, "delete the records below this offset (-1: the high watermark)")
	cmd.Flags().StringVar(&o.offsetJSON, "offset-json-file", "", "kafka-delete-records' JSON file of partitions and offsets")
	return cmd
}

// deleteRecordsFile is kafka-delete-records' --offset-json-file.
type deleteRecordsFile struct {
	Version    int `json:"version"`
	Partitions []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	} `json:"partitions"`
}

// deleteRecordsTargets is what the flags ask to delete.
func deleteRecordsTargets(o deleteRecordsOpts) (kadm.Offsets, error) {
	offsets := kadm.Offsets{}
	if o.offsetJSON == "" {
		if o.topic == "" {
			return nil, errors.New("--topic (with --partition and --offset) or --offset-json-file is required")
		}
		offsets.AddOffset(o.topic, o.partition, o.offset, -1)
		return offsets, nil
	}
	if o.topic != "" {
		return nil, errors.New("--topic and --offset-json-file exclude each other")
	}
	data, err := os.ReadFile(o.offsetJSON)
	if err != nil {
		return nil, err
	}
	return parseDeleteRecordsJSON(data)
}

// parseDeleteRecordsJSON reads kafka-delete-records' JSON.
func parseDeleteRecordsJSON(data []byte) (kadm.Offsets, error) {
	var f deleteRecordsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("offset JSON: %w", err)
	}
	if len(f.Partitions) == 0 {
		return nil, errors.New("offset JSON: no partitions")
	}
	offsets := kadm.Offsets{}
	for _, p := range f.Partitions {
		if _, dup := offsets.Lookup(p.Topic, p.Partition); dup {
			return nil, fmt.Errorf("offset JSON: partition %s-%d listed twice", p.Topic, p.Partition)
		}
		offsets.AddOffset(p.Topic, p.Partition, p.Offset, -1)
	}
	return offsets, nil
}

// writeDeleteRecords prints one line per requested partition, sorted, in
// kafka-delete-records' format, and returns the partitions' errors.
func writeDeleteRecords(w io.Writer, asked kadm.Offsets, resps kadm.DeleteRecordsResponses) error {
	fmt.Fprintln(w, "Records delete operation completed:")
	var errs []error
	for _, o := range asked.Sorted() {
		r, ok := resps.Lookup(o.Topic, o.Partition)
		switch {
		case !ok:
			r.Err = errors.New("missing from the response")
		case r.Err == nil:
			fmt.Fprintf(w, "partition: %s-%d\tlow_watermark: %d\n", o.Topic, o.Partition, r.LowWatermark)
			continue
		}
		fmt.Fprintf(w, "partition: %s-%d\terror: %v\n", o.Topic, o.Partition, r.Err)
		errs = append(errs, fmt.Errorf("partition %s-%d: %w", o.Topic, o.Partition, r.Err))
	}
	return errors.Join(errs...)
}

// ---- cluster log-dirs ----

func newClusterLogDirsCmd() *cobra.Command {
	var topics []string
	cmd := &cobra.Command{
		Use:   "log-dirs",
		Short: "Print every broker's log dirs and partition sizes as kafka-log-dirs' JSON",
		Long: "Print, for every broker, its log dirs with their errors and the size and\n" +
			"offset lag of each partition replica they hold (all partitions, or those\n" +
			"of --topics), as kafka-log-dirs --describe's JSON.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withAdminFor(cmd, clusterTimeout, func(ctx context.Context, adm *kadm.Client) error {
				set, err := logDirsTopics(ctx, adm, topics)
				if err != nil {
					return err
				}
				all, err := adm.DescribeAllLogDirs(ctx, set)
				if err != nil {
					return err
				}
				return writeLogDirsJSON(cmd.OutOrStdout(), all)
			})
		},
	}
	cmd.Flags().StringSliceVar(&topics, "topics", nil, "only these topics (comma-separated)")
	return cmd
}

// logDirsTopics is the TopicsSet to describe: nil (all) without a filter,
// else every partition of the named topics.
func logDirsTopics(ctx context.Context, adm *kadm.Client, topics []string) (kadm.TopicsSet, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	tds, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, err
	}
	set := kadm.TopicsSet{}
	for _, name := range topics {
		td, ok := tds[name]
		if !ok || td.Err != nil {
			return nil, fmt.Errorf("topic %q: %w", name, cmp.Or[error](td.Err, kerr.UnknownTopicOrPartition))
		}
		set.Add(name, td.Partitions.Numbers()...)
	}
	return set, nil
}

// The JSON of kafka-log-dirs --describe.
type (
	logDirsJSON struct {
		Version int             `json:"version"`
		Brokers []brokerDirJSON `json:"brokers"`
	}
	brokerDirJSON struct {
		Broker  int32         `json:"broker"`
		LogDirs []logDirEntry `json:"logDirs"`
	}
	logDirEntry struct {
		LogDir     string           `json:"logDir"`
		Error      *string          `json:"error"`
		Partitions []logDirPartJSON `json:"partitions"`
	}
	logDirPartJSON struct {
		Partition string `json:"partition"`
		Size      int64  `json:"size"`
		OffsetLag int64  `json:"offsetLag"`
		IsFuture  bool   `json:"isFuture"`
	}
)

// writeLogDirsJSON prints all as one line of JSON, brokers, dirs and
// partitions sorted.
func writeLogDirsJSON(w io.Writer, all kadm.DescribedAllLogDirs) error {
	out := logDirsJSON{Version: 1, Brokers: []brokerDirJSON{}}
	for _, d := range all.Sorted() {
		if n := len(out.Brokers); n == 0 || out.Brokers[n-1].Broker != d.Broker {
			out.Brokers = append(out.Brokers, brokerDirJSON{Broker: d.Broker, LogDirs: []logDirEntry{}})
		}
		b := &out.Brokers[len(out.Brokers)-1]
		b.LogDirs = append(b.LogDirs, logDirOf(d))
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// logDirOf is one dir's entry.
func logDirOf(d kadm.DescribedLogDir) logDirEntry {
	e := logDirEntry{LogDir: d.Dir, Partitions: []logDirPartJSON{}}
	if d.Err != nil {
		msg := d.Err.Error()
		if ke := (*kerr.Error)(nil); errors.As(d.Err, &ke) {
			msg = ke.Message
		}
		e.Error = &msg
	}
	parts := d.Topics.Sorted()
	slices.SortFunc(parts, func(a, b kadm.DescribedLogDirPartition) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	for _, p := range parts {
		e.Partitions = append(e.Partitions, logDirPartJSON{
			Partition: fmt.Sprintf("%s-%d", p.Topic, p.Partition), Size: p.Size, OffsetLag: p.OffsetLag, IsFuture: p.IsFuture,
		})
	}
	return e
}
