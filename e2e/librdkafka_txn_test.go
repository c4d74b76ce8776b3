package e2e

// librdkafka's transactional producer against a 3-node cluster, through
// Debian's python3-confluent-kafka: committed and aborted transactions
// (the aborted records really written, then aborted), and librdkafka's
// consume-transform-produce loop, whose consumer group offsets are
// committed by send_offsets_to_transaction in the same transactions as
// the records derived from them, one of which aborts. franz-go and a
// librdkafka consumer, both read_committed, must then see exactly the
// committed records, and the group exactly the committed offsets.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// rdkTxnScript is the librdkafka side. Its one argument is a JSON config;
// mode "produce" runs the plan's transactions, then the
// consume-transform-produce transactions; mode "consume" reads a topic
// read_committed. It prints one JSON event per line; an exception exits
// non-zero with its traceback on stderr. FJORD_E2E_RDKAFKA_DEBUG, when
// set, is librdkafka's debug config (e.g. eos,protocol,broker).
const rdkTxnScript = `
import json, os, sys, time
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING

cfg = json.loads(sys.argv[1])

def emit(**kw):
    print(json.dumps(kw), flush=True)

def conf(**kw):
    c = {"bootstrap.servers": cfg["bootstrap"], "socket.timeout.ms": 10000}
    if os.environ.get("FJORD_E2E_RDKAFKA_DEBUG"):
        c["debug"] = os.environ["FJORD_E2E_RDKAFKA_DEBUG"]
    c.update(kw)
    return c

def offsets_of(tps):
    out = {}
    for tp in tps:
        if tp.error is not None:
            raise KafkaException(tp.error)
        out[tp.partition] = tp.offset
    return out

def produce():
    out, inp, parts, per = cfg["out"], cfg["in"], cfg["partitions"], cfg["per_partition"]
    p = Producer(conf(**{"transactional.id": cfg["txn_id"], "transaction.timeout.ms": 30000,
                         "acks": "all", "linger.ms": 5}))
    p.init_transactions(60)
    emit(event="init")
    delivered = []

    def send(recs):
        # Produce and wait for every delivery report: the records are in
        # the log (acks=all) before the transaction ends.
        del delivered[:]
        for part, v in recs:
            p.produce(out, value=v.encode(), partition=part,
                      on_delivery=lambda err, msg: delivered.append((err, msg)))
        if p.flush(60) != 0:
            raise Exception("records still in flight after 60 s")
        errs = [str(err) for err, _ in delivered if err is not None]
        if errs or len(delivered) != len(recs):
            raise Exception("%d of %d delivered, errors %s" % (len(delivered), len(recs), errs))
        return [{"p": m.partition(), "o": m.offset(), "v": m.value().decode()} for _, m in delivered]

    def end(commit):
        if commit:
            p.commit_transaction(60)
        else:
            p.abort_transaction(60)

    for txn in cfg["plan"]:
        p.begin_transaction()
        recs = send([(r["p"], r["v"]) for r in txn["records"]])
        end(txn["commit"])
        emit(event="txn", name=txn["name"], commit=txn["commit"], records=recs)

    # Consume-transform-produce: a read_committed group consumer of the
    # input topic; each transaction produces "<prefix><input value>" to the
    # same partition of the output topic and commits the group's offsets.
    c = Consumer(conf(**{"group.id": cfg["group"], "isolation.level": "read_committed",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "session.timeout.ms": 10000}))
    c.subscribe([inp])

    def consume(want, keep):
        got = []
        deadline = time.time() + 60
        while len(got) < want:
            if time.time() > deadline:
                raise Exception("consumed %d of %d input records in 60 s: %s" % (len(got), want, got))
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise KafkaException(m.error())
            if keep(m.offset()):
                got.append((m.partition(), m.offset(), m.value().decode()))
        return got

    def ctp(name, batch, prefix, offsets, commit):
        p.begin_transaction()
        recs = send([(part, prefix + v) for part, _, v in batch])
        p.send_offsets_to_transaction(offsets, c.consumer_group_metadata(), 60)
        end(commit)
        emit(event="txn", name=name, commit=commit, records=recs, offsets=offsets_of(offsets))

    half = per // 2
    batch = consume(parts * per, lambda off: True)
    first = [r for r in batch if r[1] < half]
    rest = [r for r in batch if r[1] >= half]
    # The first half, with explicit offsets (one past the last processed).
    ctp("ctp-first", first, "ctp-", [TopicPartition(inp, q, half) for q in range(parts)], True)
    # The second half, with the consumer's positions, aborted.
    ctp("ctp-aborted", rest, "ctp-aborted-", c.position(c.assignment()), False)
    committed = c.committed([TopicPartition(inp, q) for q in range(parts)], 30)
    emit(event="committed_after_abort", offsets=offsets_of(committed))
    # Rewind to the committed offsets, as after any abort, and redo.
    for tp in committed:
        c.seek(tp)
    redo = consume(len(rest), lambda off: off >= half)
    ctp("ctp-redo", redo, "ctp-", c.position(c.assignment()), True)
    c.close()
    zombie()
    emit(event="done")

def zombie():
    # A producer with a transaction open is fenced by a newer producer of
    # the same transactional id: its commit fails and its record is
    # aborted; the newer one's transaction commits.
    zid, out = cfg["txn_id"] + "-zombie", cfg["out"]
    z = Producer(conf(**{"transactional.id": zid, "acks": "all"}))
    z.init_transactions(60)
    z.begin_transaction()
    z.produce(out, value=b"rdk-zombie", partition=0)
    if z.flush(60) != 0:
        raise Exception("the zombie's record is still in flight")
    s = Producer(conf(**{"transactional.id": zid, "acks": "all"}))
    s.init_transactions(60)
    s.begin_transaction()
    s.produce(out, value=b"rdk-successor", partition=0)
    if s.flush(60) != 0:
        raise Exception("the successor's record is still in flight")
    s.commit_transaction(60)
    fenced, err = False, ""
    try:
        z.commit_transaction(30)
    except KafkaException as e:
        fenced, err = True, str(e)
    emit(event="zombie", fenced=fenced, error=err)

def consume_committed():
    topic, parts, want = cfg["topic"], cfg["partitions"], cfg["want"]
    c = Consumer(conf(**{"group.id": "rdk-verify", "isolation.level": "read_committed",
                         "enable.auto.commit": False, "enable.partition.eof": True}))
    c.assign([TopicPartition(topic, q, OFFSET_BEGINNING) for q in range(parts)])
    recs, eof = [], set()
    deadline = time.time() + 60
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            if len(recs) >= want and len(eof) == parts:
                break
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            raise KafkaException(m.error())
        eof.discard(m.partition())
        recs.append({"p": m.partition(), "o": m.offset(), "v": m.value().decode()})
    c.close()
    emit(event="consumed", records=recs, eof=sorted(eof))

{"produce": produce, "consume": consume_committed}[cfg["mode"]]()
`

// rdkRecord is a record the script produced or consumed.
type rdkRecord struct {
	P int32  `json:"p"`
	O int64  `json:"o"`
	V string `json:"v"`
}

// rdkEvent is one line of the script's output.
type rdkEvent struct {
	Event   string          `json:"event"`
	Name    string          `json:"name"`
	Commit  bool            `json:"commit"`
	Records []rdkRecord     `json:"records"`
	Offsets map[int32]int64 `json:"offsets"`
	EOF     []int32         `json:"eof"`
	Fenced  bool            `json:"fenced"`
	Error   string          `json:"error"`
}

// rdkTxn is one transaction of the plan the script runs, or that it ran.
type rdkTxn struct {
	Name    string      `json:"name"`
	Commit  bool        `json:"commit"`
	Records []rdkRecord `json:"records"`
}

// TestLibrdkafkaTransactions runs librdkafka's transactional producer
// (confluent-kafka-python) against a 3-node cluster: plain transactions,
// committed and aborted, then a consume-transform-produce loop over an
// input topic with send_offsets_to_transaction (committed, aborted,
// redone). read_committed, franz-go and librdkafka read exactly the
// committed records, in order per partition; read_uncommitted reads the
// aborted ones too; a zombie producer fenced by a newer one with its
// transactional id cannot commit, and its record is never read committed; the group's committed offsets are those of the last
// committed transaction, and were unchanged by the aborted one.
func TestLibrdkafkaTransactions(t *testing.T) {
	py := debianPython()
	if out, err := exec.Command(py, "-c", "import confluent_kafka").CombinedOutput(); err != nil {
		t.Skipf("confluent-kafka (librdkafka) not importable by %s (apt-get install python3-confluent-kafka; .ci/run installs it): %v %s",
			py, err, bytes.TrimSpace(out))
	}
	const (
		out, in, group = "rdk-out", "rdk-in", "rdk-ctp"
		partitions     = 3
		perPartition   = 10 // input records per partition
		perTxn         = 9  // records per plain transaction
	)
	c := startTxnCluster(t)
	grpCreateTopic(t, c, out, partitions, 3)
	grpCreateTopic(t, c, in, partitions, 3)
	grpProduce(t, grpProducer(t, c.nodes), in, partitions, perPartition)

	var plan []rdkTxn
	for i := range 5 {
		commit := i%2 == 0
		tx := rdkTxn{Name: fmt.Sprintf("plain-%d", i), Commit: commit}
		for j := range perTxn {
			tx.Records = append(tx.Records, rdkRecord{P: int32(j % partitions), V: fmt.Sprintf("rdk-t%d-%v-%02d", i, commit, j)})
		}
		plan = append(plan, tx)
	}
	// The consume-transform-produce transactions the script runs after the
	// plan: the first half of every input partition, the second half
	// aborted, then redone.
	half := perPartition / 2
	ctpTxn := func(name, prefix string, from, to int, commit bool) rdkTxn {
		tx := rdkTxn{Name: name, Commit: commit}
		for p := range int32(partitions) {
			for seq := from; seq < to; seq++ {
				tx.Records = append(tx.Records, rdkRecord{P: p, V: prefix + grpValue(p, seq)})
			}
		}
		return tx
	}
	all := append(slices.Clone(plan),
		ctpTxn("ctp-first", "ctp-", 0, half, true),
		ctpTxn("ctp-aborted", "ctp-aborted-", half, perPartition, false),
		ctpTxn("ctp-redo", "ctp-", half, perPartition, true),
		rdkTxn{Name: "zombie", Records: []rdkRecord{{P: 0, V: "rdk-zombie"}}},
		rdkTxn{Name: "successor", Commit: true, Records: []rdkRecord{{P: 0, V: "rdk-successor"}}})

	dir := t.TempDir()
	script := filepath.Join(dir, "rdk_txn.py")
	if err := os.WriteFile(script, []byte(rdkTxnScript), 0o600); err != nil {
		t.Fatal(err)
	}
	bootstrap := strings.Join(grpAddrs(c.nodes), ",")
	start := time.Now()
	events := runRdkafka(t, py, script, map[string]any{
		"mode": "produce", "bootstrap": bootstrap, "out": out, "in": in, "group": group, "txn_id": "rdk-producer",
		"partitions": partitions, "per_partition": perPartition, "plan": plan,
	})
	t.Logf("librdkafka ran %d transactions in %v", len(all), time.Since(start).Round(time.Millisecond))

	// The script's events: init, each transaction as planned, the
	// committed offsets after the abort, done.
	want := slices.Concat([]string{"init"}, repeat("txn", len(plan)), []string{"txn", "txn", "committed_after_abort", "txn", "zombie", "done"})
	if got := eventNames(events); !slices.Equal(got, want) {
		t.Fatalf("script events %v, want %v", got, want)
	}
	var ran []rdkEvent
	var afterAbort map[int32]int64
	for _, e := range events {
		switch e.Event {
		case "txn":
			ran = append(ran, e)
		case "committed_after_abort":
			afterAbort = e.Offsets
		case "zombie":
			if !e.Fenced {
				t.Error("the fenced zombie producer committed its transaction")
			}
			t.Logf("the zombie's commit failed: %s", e.Error)
		}
	}
	for i, e := range ran {
		tx := all[i]
		if e.Name != tx.Name || e.Commit != tx.Commit || !sameValues(e.Records, tx.Records) {
			t.Fatalf("transaction %d: script ran %s (commit %v) with %v, want %s (commit %v) with %v",
				i, e.Name, e.Commit, e.Records, tx.Name, tx.Commit, tx.Records)
		}
	}
	offsetsAt := func(o int) map[int32]int64 {
		m := map[int32]int64{}
		for p := range int32(partitions) {
			m[p] = int64(o)
		}
		return m
	}
	for name, want := range map[string]map[int32]int64{
		"ctp-first": offsetsAt(half), "ctp-aborted": offsetsAt(perPartition), "ctp-redo": offsetsAt(perPartition),
	} {
		i := slices.IndexFunc(ran, func(e rdkEvent) bool { return e.Name == name })
		if !maps.Equal(ran[i].Offsets, want) {
			t.Errorf("%s sent offsets %v to the transaction, want %v", name, ran[i].Offsets, want)
		}
	}
	if !maps.Equal(afterAbort, offsetsAt(half)) {
		t.Errorf("after the aborted transaction librdkafka read committed offsets %v, want the first commit's %v", afterAbort, offsetsAt(half))
	}

	// What each isolation level reads, per partition in offset order.
	committed, written := map[int32][]string{}, map[int32][]string{}
	nCommitted, nWritten := 0, 0
	for _, tx := range all {
		for _, r := range tx.Records {
			written[r.P] = append(written[r.P], r.V)
			nWritten++
			if tx.Commit {
				committed[r.P] = append(committed[r.P], r.V)
				nCommitted++
			}
		}
	}
	checkPerPartition(t, "franz-go read_committed", consumeValues(t, c, out, true, nCommitted), committed, partitions)
	checkPerPartition(t, "franz-go read_uncommitted", consumeValues(t, c, out, false, nWritten), written, partitions)

	got, err := grpFetchCommitted(grpAdmin(t, c.nodes), group, in)
	if err != nil {
		t.Fatalf("fetching %s's offsets: %v", group, err)
	}
	gotOffsets := map[int32]int64{}
	for p, o := range got {
		gotOffsets[p] = o.At
	}
	if redo := ran[len(ran)-1].Offsets; !maps.Equal(gotOffsets, redo) {
		t.Errorf("group %s committed offsets %v, want %v, the last committed transaction's", group, gotOffsets, redo)
	}

	consumed := runRdkafka(t, py, script, map[string]any{
		"mode": "consume", "bootstrap": bootstrap, "topic": out, "partitions": partitions, "want": nCommitted,
	})
	if len(consumed) != 1 || consumed[0].Event != "consumed" {
		t.Fatalf("consume script events %v, want one consumed", eventNames(consumed))
	}
	checkPerPartition(t, "librdkafka read_committed", byPartition(consumed[0].Records), committed, partitions)
	if len(consumed[0].EOF) != partitions {
		t.Errorf("librdkafka read_committed reached the end of partitions %v only", consumed[0].EOF)
	}
}

// runRdkafka runs the script with cfg as its JSON argument, failing the
// test on error or after three minutes, and returns its events. With
// FJORD_E2E_RDKAFKA_DEBUG set it logs the script's stderr (librdkafka's
// debug log) even when it succeeds.
func runRdkafka(t *testing.T, py, script string, cfg map[string]any) []rdkEvent {
	t.Helper()
	arg, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, script, string(arg))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var events []rdkEvent
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var e rdkEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s script printed %q: %v", cfg["mode"], sc.Text(), err)
		}
		events = append(events, e)
	}
	if runErr != nil {
		t.Fatalf("%s script: %v after events %v\nstderr:\n%s", cfg["mode"], runErr, eventNames(events), tail(stderr.String(), 60))
	}
	if os.Getenv("FJORD_E2E_RDKAFKA_DEBUG") != "" {
		t.Logf("%s script stderr:\n%s", cfg["mode"], stderr.String())
	}
	return events
}

func eventNames(events []rdkEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Event)
	}
	return out
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// sameValues reports whether got and want hold the same values per
// partition in the same order (delivery reports come partition by
// partition, so not in production order across partitions), and got's
// offsets rise within each partition.
func sameValues(got, want []rdkRecord) bool {
	last := map[int32]int64{}
	for _, r := range got {
		if o, ok := last[r.P]; ok && r.O <= o {
			return false
		}
		last[r.P] = r.O
	}
	return maps.EqualFunc(byPartition(got), byPartition(want), slices.Equal)
}

// byPartition returns the records' values per partition, in their order.
func byPartition(recs []rdkRecord) map[int32][]string {
	out := map[int32][]string{}
	for _, r := range recs {
		out[r.P] = append(out[r.P], r.V)
	}
	return out
}

// checkPerPartition compares what a reader read with want, partition by
// partition in offset order.
func checkPerPartition(t *testing.T, reader string, got, want map[int32][]string, partitions int32) {
	t.Helper()
	for p := range partitions {
		if !slices.Equal(got[p], want[p]) {
			t.Errorf("%s: partition %d has %d records, want %d: %s", reader, p, len(got[p]), len(want[p]), firstDiff(got[p], want[p]))
		}
	}
	for p := range got {
		if p < 0 || p >= partitions {
			t.Errorf("%s: records in partition %d", reader, p)
		}
	}
}
