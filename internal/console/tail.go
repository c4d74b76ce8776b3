package console

// The message browser's live tail: GET /topics/{name}/messages/tail
// streams the records appended after the request came, as Server-Sent
// Events whose data is the browser's table row for the record. Each
// connection has one consumer of its own, closed with it; it is bounded
// in rate (records beyond tailLimits.rate a second are dropped and
// counted), in time (it ends after tailLimits.maxTime) and in number (at
// most maxTails at once); everything it starts ends before the handler
// returns, when the client goes or the server stops.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// tailLimits bound one live tail.
type tailLimits struct {
	rate      int           // records sent per second; more are dropped and counted
	maxTime   time.Duration // the stream ends after this long
	keepAlive time.Duration // a comment is sent when nothing else was for this long
}

var defaultTailLimits = tailLimits{rate: 50, maxTime: 10 * time.Minute, keepAlive: 15 * time.Second}

// maxTails is how many live tails one console serves at once.
const maxTails = 32

// tailFetchBytes bounds one tail's fetch responses (a batch larger than it
// still arrives whole, as Kafka sends the first batch regardless), so that
// maxTails tails hold at most about maxTails times this in buffered
// records: a tail shows at most tailLimits.rate records a second anyway.
const tailFetchBytes = 1 << 20

// tailQuery is the tail's query: the page's partition, filter and mode.
type tailQuery struct {
	Partition int32 // -1: every partition
	Filter    string
	Mode      string
}

func parseTail(r *http.Request) (tailQuery, error) {
	v := r.URL.Query()
	q := tailQuery{Partition: -1, Filter: v.Get("filter"), Mode: v.Get("mode")}
	if p := v.Get("partition"); p != "" && p != "all" {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil || n < 0 {
			return q, badRequest("partition must be a partition number or all, not %q", p)
		}
		q.Partition = int32(n)
	}
	if q.Mode != "" && q.Mode != "auto" && q.Mode != "text" && q.Mode != "hex" {
		return q, badRequest("mode must be auto, text or hex, not %q", q.Mode)
	}
	if len(q.Filter) > maxFilterLen {
		return q, badRequest("filter is longer than %d bytes", maxFilterLen)
	}
	return q, nil
}

// tailHandler serves live tails, at most maxTails at once.
func (s *Server) tailHandler() http.HandlerFunc {
	slots := make(chan struct{}, maxTails)
	return func(w http.ResponseWriter, r *http.Request) {
		s.tail(w, r, slots, defaultTailLimits)
	}
}

func (s *Server) tail(w http.ResponseWriter, r *http.Request, slots chan struct{}, lim tailLimits) {
	t0 := time.Now()
	q, err := parseTail(r)
	if err != nil {
		s.fail(w, r, t0, err)
		return
	}
	select {
	case slots <- struct{}{}:
		defer func() { <-slots }()
	default:
		s.fail(w, r, t0, &httpError{http.StatusServiceUnavailable, "Too many live tails",
			fmt.Sprintf("this console serves at most %d live tails at once: close one and try again", maxTails)})
		return
	}
	name := r.PathValue("name")
	from, err := s.tailStart(r.Context(), name, q)
	if err != nil {
		s.fail(w, r, t0, err)
		return
	}
	opts := append(append([]kgo.Opt{kgo.ClientID("fjord-console")}, s.opts.ClientOpts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{name: from}),
		kgo.FetchMaxBytes(tailFetchBytes), kgo.FetchMaxWait(500*time.Millisecond), kgo.MaxConcurrentFetches(1))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		s.fail(w, r, t0, kafkaError("creating a consumer", err))
		return
	}
	defer cl.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	st := &sseStream{w: w, rc: http.NewResponseController(w), last: time.Now()}
	st.event("ready", fmt.Sprintf("tailing %d partitions of %s from their end offsets", len(from), name))
	if st.flush() != nil {
		return
	}
	s.tailLoop(r.Context(), st, cl, q, lim)
}

// tailStart lists the end offsets of the tailed partitions (the tail
// starts there: a record produced after the stream opened is always
// sent). A topic the principal may not describe is a 403, an unknown
// topic or partition a 404.
func (s *Server) tailStart(ctx context.Context, name string, q tailQuery) (map[int32]kgo.Offset, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	_, td, err := s.findTopic(name)
	if err != nil {
		return nil, err
	}
	parts := td.Partitions.Numbers()
	if q.Partition >= 0 {
		if !slices.Contains(parts, q.Partition) {
			return nil, notFound(fmt.Sprintf("topic %s has no partition %d", name, q.Partition))
		}
		parts = []int32{q.Partition}
	}
	ends, err := s.adm.ListEndOffsets(ctx, name)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		if isAuthErr(err) {
			return nil, forbidden("list the offsets of topic "+name, err)
		}
		return nil, kafkaError("listing the end offsets of "+name, err)
	}
	from := map[int32]kgo.Offset{}
	for _, p := range parts {
		if o, ok := ends.Lookup(name, p); ok {
			from[p] = kgo.NewOffset().At(o.Offset)
		}
	}
	if len(from) == 0 {
		return nil, &httpError{http.StatusBadGateway, "No offsets", "no end offsets were listed for " + name}
	}
	return from, nil
}

// tailLoop polls the consumer about once a second and sends each new
// record that passes the filter, within the rate; it returns when the
// client goes, a write fails, or lim.maxTime passed (after an "end"
// event, so that the page does not reconnect).
func (s *Server) tailLoop(ctx context.Context, st *sseStream, cl *kgo.Client, q tailQuery, lim tailLimits) {
	ctx, cancel := context.WithTimeout(ctx, lim.maxTime)
	defer cancel()
	tmpl := s.pages.sets["messages"]
	rw := &rateWindow{rate: lim.rate, start: time.Now()}
	var row bytes.Buffer
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollRecords(pctx, 500)
		pcancel()
		if err := ctx.Err(); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				st.event("end", "the live tail ended after "+lim.maxTime.String()+": switch it on again to go on")
				_ = st.flush()
			}
			return
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
				continue
			}
			if isAuthErr(fe.Err) {
				st.event("end", deniedText("read topic "+fe.Topic, fe.Err))
				_ = st.flush()
				return
			}
			st.event("note", fmt.Sprintf("reading partition %d: %v", fe.Partition, fe.Err))
		}
		var werr error
		fs.EachRecord(func(rec *kgo.Record) {
			if werr != nil || !matches(rec, q.Filter) {
				return
			}
			now := time.Now()
			st.dropped(rw.roll(now), lim.rate)
			if !rw.admit() {
				return
			}
			row.Reset()
			if werr = tmpl.ExecuteTemplate(&row, "row", messageRowOf(rec, q.Mode)); werr == nil {
				st.event("record", row.String())
			}
		})
		if werr != nil {
			s.logger.Error("console: rendering a tailed record", "err", werr)
			return
		}
		st.dropped(rw.roll(time.Now()), lim.rate)
		if time.Since(st.last) >= lim.keepAlive {
			st.comment("keep-alive")
		}
		if st.flush() != nil {
			return // the client is gone
		}
	}
}

// rateWindow admits at most rate records a second (a fixed one-second
// window) and counts the ones it refuses.
type rateWindow struct {
	rate          int
	start         time.Time
	sent, dropped int
}

// roll starts a new window when the current one is a second old and
// returns how many records the old one dropped (0 otherwise).
func (w *rateWindow) roll(now time.Time) int {
	if now.Sub(w.start) < time.Second {
		return 0
	}
	n := w.dropped
	w.start, w.sent, w.dropped = now, 0, 0
	return n
}

// admit reports whether one more record may be sent in this window
// (the caller rolls the window first).
func (w *rateWindow) admit() bool {
	if w.sent >= w.rate {
		w.dropped++
		return false
	}
	w.sent++
	return true
}

// sseStream writes Server-Sent Events; the first write error sticks.
type sseStream struct {
	w    io.Writer
	rc   *http.ResponseController
	buf  bytes.Buffer
	last time.Time // of the last flush with data
	err  error
}

// event queues an event; data may hold any text: each line becomes a
// data: line (the browser joins them with "\n") and a carriage return,
// which would end a line too, is sent as the HTML reference &#13;.
func (st *sseStream) event(name, data string) {
	st.buf.WriteString("event: " + name + "\n")
	data = strings.ReplaceAll(data, "\r", "&#13;")
	for line := range strings.SplitSeq(data, "\n") {
		st.buf.WriteString("data: " + line + "\n")
	}
	st.buf.WriteString("\n")
}

// dropped queues the count of records skipped in the last second.
func (st *sseStream) dropped(n, rate int) {
	if n > 0 {
		st.event("dropped", fmt.Sprintf("%d records skipped: the live tail shows at most %d records a second", n, rate))
	}
}

func (st *sseStream) comment(text string) {
	st.buf.WriteString(": " + text + "\n\n")
}

// flush writes and flushes what is queued.
func (st *sseStream) flush() error {
	if st.err != nil || st.buf.Len() == 0 {
		return st.err
	}
	if _, st.err = st.w.Write(st.buf.Bytes()); st.err == nil {
		st.err = st.rc.Flush()
	}
	st.buf.Reset()
	st.last = time.Now()
	return st.err
}
