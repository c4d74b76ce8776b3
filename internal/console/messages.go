package console

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Browser limits: records shown, records scanned while filtering, bytes
// one fetch may bring (a 10 MB record still fits), and time spent.
const (
	defaultLimit   = 50
	maxLimit       = 500
	maxScanned     = 20_000
	browseMaxBytes = 32 << 20
	browseTime     = 3 * time.Second
)

// browseQuery is the message browser's form, from the URL.
type browseQuery struct {
	Partition int32 // -1: every partition
	From      string
	Offset    int64
	Timestamp string
	Limit     int
	Mode      string
	Filter    string
}

// messageRow is one record as the browser shows it.
type messageRow struct {
	Partition int32
	Offset    int64
	Time      string
	Key       payloadView
	Value     payloadView
	Headers   []headerView
	at        time.Time
}

type headerView struct {
	Key   string
	Value payloadView
}

type messagesData struct {
	Topic      string
	Partitions []int32
	Q          browseQuery
	Rows       []messageRow
	Scanned    int
	Note       string
}

func (s *Server) messages(ctx context.Context, r *http.Request) (pageResult, error) {
	name := r.PathValue("name")
	_, td, err := s.findTopic(name)
	if err != nil {
		return pageResult{}, err
	}
	q, err := parseBrowse(r)
	if err != nil {
		return pageResult{}, err
	}
	d := messagesData{Topic: name, Partitions: td.Partitions.Numbers(), Q: q}
	slices.Sort(d.Partitions)
	if q.Partition >= 0 && !slices.Contains(d.Partitions, q.Partition) {
		return pageResult{}, notFound(fmt.Sprintf("topic %s has no partition %d", name, q.Partition))
	}
	parts := d.Partitions
	if q.Partition >= 0 {
		parts = []int32{q.Partition}
	}
	if err := s.browse(ctx, name, parts, &d); err != nil {
		return pageResult{}, err
	}
	return pageResult{page: "messages", title: "Messages of " + name, nav: "topics", live: q.From == "end", data: d}, nil
}

// parseBrowse reads and checks the browser's query parameters.
func parseBrowse(r *http.Request) (browseQuery, error) {
	v := r.URL.Query()
	q := browseQuery{Partition: -1, From: v.Get("from"), Limit: defaultLimit, Mode: v.Get("mode"),
		Filter: v.Get("filter"), Timestamp: v.Get("ts")}
	if p := v.Get("partition"); p != "" && p != "all" {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil || n < 0 {
			return q, badRequest("partition must be a partition number or all, not %q", p)
		}
		q.Partition = int32(n)
	}
	if q.From == "" {
		q.From = "end"
	}
	if err := q.parseStart(v.Get("offset")); err != nil {
		return q, err
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			return q, badRequest("limit must be from 1 to %d, not %q", maxLimit, l)
		}
		q.Limit = n
	}
	if q.Mode != "" && q.Mode != "auto" && q.Mode != "text" && q.Mode != "hex" {
		return q, badRequest("mode must be auto, text or hex")
	}
	return q, nil
}

func (q *browseQuery) parseStart(offset string) error {
	switch q.From {
	case "end", "beginning":
		return nil
	case "offset":
		n, err := strconv.ParseInt(strings.TrimSpace(offset), 10, 64)
		if err != nil || n < 0 {
			return badRequest("offset must be a whole number from 0 to %d, not %q", int64(1<<63-1), offset)
		}
		q.Offset = n
		return nil
	case "timestamp":
		_, err := parseTimestamp(q.Timestamp)
		return err
	}
	return badRequest("from must be end, beginning, offset or timestamp")
}

// parseTimestamp accepts milliseconds since the epoch or RFC 3339.
func parseTimestamp(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, badRequest("timestamp must be milliseconds since 1970 or a date like 2026-12-07T10:00:00Z, not %q", s)
}

// browse reads records from parts into d: it lists the partitions' start
// and end offsets, picks each partition's first offset, then consumes
// with a client of its own until every partition reached its end offset
// as listed, the limit is met, or browseTime passed.
func (s *Server) browse(ctx context.Context, topic string, parts []int32, d *messagesData) error {
	starts, ends, err := s.partitionRange(ctx, topic, d.Q.From == "offset")
	if err != nil {
		return err
	}
	from, err := s.startOffsets(ctx, topic, parts, starts, ends, d.Q)
	if err != nil {
		return err
	}
	if len(from) == 0 {
		d.Note = "nothing to read: the chosen partitions hold no records from there"
		return nil
	}
	return s.consume(ctx, topic, from, ends, d)
}

// partitionRange returns the topic's log start and end offsets: from the
// cached snapshot unless exact is set (an offset past the end is refused,
// so it must be checked against the latest end), else listed afresh, the
// two lists in parallel.
func (s *Server) partitionRange(ctx context.Context, topic string, exact bool) (kadm.ListedOffsets, kadm.ListedOffsets, error) {
	if snap, err := s.snapshot(); err == nil && !exact && len(snap.start[topic]) > 0 && len(snap.end[topic]) > 0 {
		return snap.start, snap.end, nil
	}
	var starts, ends kadm.ListedOffsets
	var serr, eerr error
	var wg sync.WaitGroup
	wg.Go(func() { starts, serr = s.adm.ListStartOffsets(ctx, topic) })
	wg.Go(func() { ends, eerr = s.adm.ListEndOffsets(ctx, topic) })
	wg.Wait()
	if serr == nil {
		serr = starts.Error()
	}
	if eerr == nil {
		eerr = ends.Error()
	}
	if err := errors.Join(serr, eerr); err != nil {
		return nil, nil, kafkaError("listing offsets of "+topic, err)
	}
	return starts, ends, nil
}

// startOffsets picks where each partition's read starts; partitions with
// nothing to read are left out. An offset past the end is a 400.
func (s *Server) startOffsets(ctx context.Context, topic string, parts []int32, starts, ends kadm.ListedOffsets, q browseQuery) (map[int32]int64, error) {
	var byTime kadm.ListedOffsets
	if q.From == "timestamp" {
		ms, _ := parseTimestamp(q.Timestamp)
		var err error
		if byTime, err = s.adm.ListOffsetsAfterMilli(ctx, ms, topic); err != nil {
			return nil, kafkaError("finding offsets by time", err)
		}
	}
	out := map[int32]int64{}
	for _, p := range parts {
		start, end := snapOffset(starts, topic, p), snapOffset(ends, topic, p)
		at := start
		switch q.From {
		case "end":
			at = max(start, end-int64(q.Limit))
		case "offset":
			if q.Offset > end {
				return nil, badRequest("offset %d is past the end of partition %d (its end offset is %d)", q.Offset, p, end)
			}
			at = max(start, q.Offset)
		case "timestamp":
			if at = snapOffset(byTime, topic, p); at < 0 {
				at = end
			}
		}
		if at < end {
			out[p] = at
		}
	}
	return out, nil
}

// consume reads from the chosen offsets with a short-lived client.
func (s *Server) consume(ctx context.Context, topic string, from map[int32]int64, ends kadm.ListedOffsets, d *messagesData) error {
	offsets := map[int32]kgo.Offset{}
	for p, at := range from {
		offsets[p] = kgo.NewOffset().At(at)
	}
	opts := append(append([]kgo.Opt{kgo.ClientID("fjord-console")}, s.opts.ClientOpts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxBytes(browseMaxBytes), kgo.FetchMaxWait(500*time.Millisecond), kgo.MaxConcurrentFetches(1))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return kafkaError("creating a consumer", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, browseTime)
	defer cancel()
	pending := map[int32]int64{}
	for p := range from {
		pending[p] = snapOffset(ends, topic, p)
	}
	for len(pending) > 0 && !d.full() && d.Scanned < maxScanned {
		fs := cl.PollRecords(ctx, d.Q.Limit)
		if ctx.Err() != nil {
			d.Note = "stopped after " + browseTime.String() + ": the partitions' leaders answered too slowly"
			break
		}
		for _, fe := range fs.Errors() {
			if isAuthErr(fe.Err) {
				return forbidden("read topic "+topic, fe.Err)
			}
		}
		fs.EachRecord(func(rec *kgo.Record) { d.take(rec, pending) })
	}
	d.sortRows()
	return nil
}

// take adds rec if it matches the filter and the limit allows, and marks
// its partition done once it reached the end offset.
func (d *messagesData) take(rec *kgo.Record, pending map[int32]int64) {
	end, ok := pending[rec.Partition]
	if !ok || rec.Offset >= end {
		delete(pending, rec.Partition)
		return
	}
	if rec.Offset+1 >= end {
		delete(pending, rec.Partition)
	}
	d.Scanned++
	if d.full() || !matches(rec, d.Q.Filter) {
		return
	}
	d.Rows = append(d.Rows, messageRowOf(rec, d.Q.Mode))
}

// full reports whether no more rows are wanted. Reading from the end
// takes the last limit records of every partition and keeps the newest
// limit of them at the end (sortRows), so it is never full early.
func (d *messagesData) full() bool {
	return d.Q.From != "end" && len(d.Rows) >= d.Q.Limit
}

// matches reports whether the record's key, value or a header contains
// filter (case-sensitive bytes); an empty filter matches everything.
func matches(rec *kgo.Record, filter string) bool {
	if filter == "" {
		return true
	}
	f := []byte(filter)
	if bytes.Contains(rec.Key, f) || bytes.Contains(rec.Value, f) {
		return true
	}
	for _, h := range rec.Headers {
		if strings.Contains(h.Key, filter) || bytes.Contains(h.Value, f) {
			return true
		}
	}
	return false
}

func messageRowOf(rec *kgo.Record, mode string) messageRow {
	row := messageRow{Partition: rec.Partition, Offset: rec.Offset, at: rec.Timestamp,
		Time: rec.Timestamp.UTC().Format("2006-01-02 15:04:05.000"),
		Key:  renderPayload(rec.Key, rec.Key == nil, mode), Value: renderPayload(rec.Value, rec.Value == nil, mode)}
	for _, h := range rec.Headers {
		row.Headers = append(row.Headers, headerView{Key: h.Key, Value: renderPayload(h.Value, h.Value == nil, mode)})
	}
	return row
}

// sortRows orders the rows by partition and offset; from the end, it
// first keeps the newest limit rows by timestamp.
func (d *messagesData) sortRows() {
	if d.Q.From == "end" && len(d.Rows) > d.Q.Limit {
		slices.SortStableFunc(d.Rows, func(a, b messageRow) int { return a.at.Compare(b.at) })
		d.Rows = d.Rows[len(d.Rows)-d.Q.Limit:]
	}
	slices.SortFunc(d.Rows, func(a, b messageRow) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return cmp.Compare(a.Offset, b.Offset)
	})
}
