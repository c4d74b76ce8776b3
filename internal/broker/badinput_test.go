package broker

// Bad input against a real node over real TCP (reference/reliability.md,
// "Bad input"; reference/kafka-replication.md §2). Every case asserts the
// exact Kafka error code or that the connection is closed; after each case
// the node must still serve a normal franz-go client, and after Close no
// goroutine of the node may be left (startNode's cleanup).

import (
	"bytes"
	"encoding/binary"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

// Versions the raw requests use (all within the node's advertised ranges).
const (
	produceVersion     = 9 // flexible
	fetchVersion       = 12
	listOffsetsVersion = 5
	metadataVersion    = 9
	createTopicsVer    = 5
)

// healthTopic is the topic the after-each-case health check writes to.
const healthTopic = "health"

// TestBadInput runs every case against one node with a 1 MiB
// socket.request.max.bytes and auto-creation off, checking after each case
// that the node still serves a franz-go producer and consumer.
func TestBadInput(t *testing.T) {
	n := startNode(t, map[string]string{
		"socket.request.max.bytes":  "1048576",
		"auto.create.topics.enable": "false",
	})
	n.createTopic(t, healthTopic, 1, nil)
	n.createTopic(t, "t", 2, nil)
	n.createTopic(t, "small", 1, map[string]string{"max.message.bytes": "256"})
	n.checkServes(t, healthTopic)

	cases := []struct {
		name string
		fn   func(*testing.T, *testNode)
	}{
		{"frame/negative size", testNegativeSize},
		{"frame/size above socket.request.max.bytes", testOversizedFrame},
		{"frame/zero length", testZeroLengthFrame},
		{"frame/shorter than a header", testTinyFrame},
		{"frame/truncated size prefix", testTruncatedSize},
		{"frame/truncated body", testTruncatedBody},
		{"api/unknown key", testUnknownKey},
		{"api/unsupported produce version", testUnsupportedProduceVersion},
		{"api/ApiVersions v99", testApiVersionsUnsupported},
		{"body/huge array claim", testHugeArrayClaim},
		{"body/huge string claim", testHugeStringClaim},
		{"body/client id longer than the frame", testMalformedHeader},
		{"produce/bad crc", testProduceBadCRC},
		{"produce/too large", testProduceTooLarge},
		{"produce/two batches", testProduceTwoBatches},
		{"produce/base offset not zero", testProduceBaseOffset},
		{"produce/magic 1", testProduceMagic1},
		{"produce/record count lies", testProduceBadCount},
		{"produce/garbage", testProduceGarbage},
		{"produce/control batch", testProduceControl},
		{"produce/acks 2", testProduceBadAcks},
		{"produce/acks 0 bad batch", testProduceAcks0Bad},
		{"produce/unknown topic", testProduceUnknownTopic},
		{"produce/partition out of range", testProducePartitionOutOfRange},
		{"topics/invalid names", testCreateInvalidTopicNames},
		{"fetch/offset out of range", testFetchOutOfRange},
		{"fetch/unknown topic or partition", testFetchUnknown},
		{"fetch/leader epoch", testFetchLeaderEpoch},
		{"fetch/long poll", testFetchLongPoll},
		{"list offsets/unknown", testListOffsetsUnknown},
		{"connections/abrupt", testAbruptConnections},
	}
	for _, tc := range cases {
		if !t.Run(tc.name, func(t *testing.T) { tc.fn(t, n) }) {
			continue
		}
		n.checkServes(t, healthTopic)
	}
}

// TestBadInputAutoCreate: Metadata for an invalid topic name with
// auto-creation on answers INVALID_TOPIC_EXCEPTION and creates nothing,
// while a valid unknown name in the same request is created (answered
// LEADER_NOT_AVAILABLE, as Kafka).
func TestBadInputAutoCreate(t *testing.T) {
	n := startNode(t, map[string]string{"auto.create.topics.enable": "true"})
	c := n.dial(t)
	bad := []string{"a/b", "..", strings.Repeat("x", 250), "ä", ""}
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(metadataVersion)
	req.AllowAutoTopicCreation = true
	for _, name := range append(bad, "auto-created") {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, mt)
	}
	resp := c.roundTrip(req).(*kmsg.MetadataResponse)
	got := map[string]int16{}
	for _, rt := range resp.Topics {
		got[*rt.Topic] = rt.ErrorCode
	}
	for _, name := range bad {
		if code, ok := got[name]; !ok || code != kerr.InvalidTopicException.Code {
			t.Errorf("metadata %q: code %d (present %v), want %d", name, code, ok, kerr.InvalidTopicException.Code)
		}
	}
	if code := got["auto-created"]; code != kerr.LeaderNotAvailable.Code { // as Kafka: the creating request's answer
		t.Errorf("metadata auto-created: code %d, want %d", code, kerr.LeaderNotAvailable.Code)
	}
	names := n.Image().TopicNames()
	if len(names) != 1 || names[0] != "auto-created" {
		t.Errorf("topics after metadata: %q, want only auto-created", names)
	}
	n.checkServes(t, "auto-created")
}

// --- frames ---

func testNegativeSize(t *testing.T, n *testNode) {
	c := n.dial(t)
	c.write([]byte{0xff, 0xff, 0xff, 0xfe, 0, 18, 0, 0})
	c.expectClosed()
}

func testOversizedFrame(t *testing.T, n *testNode) {
	c := n.dial(t)
	b := binary.BigEndian.AppendUint32(nil, 2<<20) // 2 MiB > 1 MiB
	b = append(b, frame(18, 0, 1, nil)[4:]...)
	c.write(b)
	c.expectClosed()

	// Exactly at the limit is accepted: a frame of socket.request.max.bytes
	// (an ApiVersions v0 request padded with ignored trailing bytes) is
	// read whole and answered.
	c = n.dial(t)
	f := frame(18, 0, 1, make([]byte, 1<<20-10-1))
	if len(f)-4 != 1<<20 {
		t.Fatalf("frame of %d bytes", len(f)-4)
	}
	c.write(f)
	resp := c.recv(kmsg.NewPtrApiVersionsRequest(), 1, 0).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("max-size ApiVersions: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func testZeroLengthFrame(t *testing.T, n *testNode) {
	c := n.dial(t)
	c.write([]byte{0, 0, 0, 0})
	c.expectClosed()
}

func testTinyFrame(t *testing.T, n *testNode) {
	c := n.dial(t)
	c.write([]byte{0, 0, 0, 3, 0, 18, 0}) // 3 bytes: no room for a header
	c.expectClosed()
}

func testTruncatedSize(t *testing.T, n *testNode) {
	c := n.dial(t)
	c.write([]byte{0, 0})
	c.nc.(*net.TCPConn).CloseWrite()
	c.expectClosed()
}

func testTruncatedBody(t *testing.T, n *testNode) {
	c := n.dial(t)
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(metadataVersion)
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(healthTopic)}}
	full := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
	c.write(full[:len(full)/2]) // claims len(full)-4 bytes, sends half
	c.nc.(*net.TCPConn).CloseWrite()
	c.expectClosed()
}

// --- API keys and versions ---

func testUnknownKey(t *testing.T, n *testNode) {
	c := n.dial(t)
	c.write(frame(999, 0, 1, make([]byte, 8)))
	c.expectClosed()
}

func testUnsupportedProduceVersion(t *testing.T, n *testNode) {
	c := n.dial(t)
	// A good request first, so "closed" is not just "never served".
	c.roundTrip(apiVersions(3))
	c.write(frame(0, 99, 7, []byte{0}))
	c.expectClosed()
}

// ApiVersions at a version the node does not know is answered as v0 with
// UNSUPPORTED_VERSION (35) and the full key list (KIP-511), and the
// connection stays open for the client to retry at a version it knows.
func testApiVersionsUnsupported(t *testing.T, n *testNode) {
	c := n.dial(t)
	// v99 is flexible: header tags, then compact strings for the client
	// software name and version and the body's tags.
	body := []byte{0}
	body = append(body, 5, 'f', 'a', 'k', 'e', 3, '9', '9', 0)
	c.write(frame(18, 99, 42, body))
	resp := c.recv(kmsg.NewPtrApiVersionsRequest(), 42, 0).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Errorf("ApiVersions v99: error %d, want %d", resp.ErrorCode, kerr.UnsupportedVersion.Code)
	}
	if len(resp.ApiKeys) == 0 {
		t.Fatal("ApiVersions v99: empty ApiKeys")
	}
	found := false
	for _, k := range resp.ApiKeys {
		if k.ApiKey == kmsg.ApiVersions.Int16() {
			found = k.MinVersion == 0 && k.MaxVersion >= 3
		}
	}
	if !found {
		t.Errorf("ApiVersions v99: ApiVersions 0-3+ not listed: %+v", resp.ApiKeys)
	}
	// The retry at a known version on the same connection is answered.
	got := c.roundTrip(apiVersions(3)).(*kmsg.ApiVersionsResponse)
	if got.ErrorCode != 0 || len(got.ApiKeys) != len(resp.ApiKeys) {
		t.Errorf("ApiVersions v3 after v99: error %d, %d keys (v0 answer had %d)", got.ErrorCode, len(got.ApiKeys), len(resp.ApiKeys))
	}
}

// --- malformed bodies ---

// totalAlloc returns, after a GC, the bytes allocated so far by the whole
// process and the live heap.
func totalAlloc() (total, heap uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc, ms.HeapAlloc
}

// checkBounded sends each raw frame on its own connection, expects it
// closed, and checks that the process allocated little meanwhile: a decoder
// allocating from the claimed length would need gigabytes (KAFKA-14063).
func checkBounded(t *testing.T, n *testNode, frames map[string][]byte) {
	t.Helper()
	const limit = 32 << 20
	for name, f := range frames {
		total0, heap0 := totalAlloc()
		c := n.dial(t)
		c.write(f)
		c.expectClosed()
		total1, heap1 := totalAlloc()
		if d := total1 - total0; d > limit {
			t.Errorf("%s: %d bytes allocated while decoding a %d-byte frame", name, d, len(f))
		}
		if heap1 > heap0 && heap1-heap0 > limit {
			t.Errorf("%s: heap grew by %d bytes", name, heap1-heap0)
		}
	}
}

func testHugeArrayClaim(t *testing.T, n *testNode) {
	// Metadata v1: topics is an int32-counted array.
	v1 := frame(3, 1, 1, []byte{0x7f, 0xff, 0xff, 0xff})
	// Metadata v9 (flexible): header tags, then a compact array whose
	// uvarint holds count+1 = 2^31.
	v9 := frame(3, 9, 1, binary.AppendUvarint([]byte{0}, 1<<31))
	// CreateTopics v0: a topic with 2^31-1 replica assignments.
	ct := []byte{0, 0, 0, 1, 0, 1, 'x', 0, 0, 0, 1, 0, 1, 0x7f, 0xff, 0xff, 0xff}
	checkBounded(t, n, map[string][]byte{
		"metadata v1": v1, "metadata v9": v9, "create topics v0": frame(19, 0, 1, ct),
	})
}

func testHugeStringClaim(t *testing.T, n *testNode) {
	// Metadata v1 with one topic whose name claims 32767 bytes.
	str := frame(3, 1, 1, []byte{0, 0, 0, 1, 0x7f, 0xff, 'a'})
	// Produce v3 with records claiming 2^31-1 bytes.
	prod := []byte{0xff, 0xff, 0, 1, 0, 0, 0x75, 0x30, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}
	checkBounded(t, n, map[string][]byte{"metadata topic name": str, "produce records": frame(0, 3, 1, prod)})
}

// A client id longer than the frame closes the connection.
func testMalformedHeader(t *testing.T, n *testNode) {
	c := n.dial(t)
	b := []byte{0, 0, 0, 12, 0, 18, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 'a', 'b'}
	c.write(b)
	c.expectClosed()
}

// --- produce ---

// validBatch returns a fresh one-record batch.
func validBatch(t *testing.T, value string) []byte {
	t.Helper()
	b, err := record.BuildBatch(record.CompressionNone, time.Now().UnixMilli(), []record.Record{{Value: []byte(value)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reCRC recomputes a batch's CRC after a test changed a covered field.
func reCRC(b []byte) { binary.BigEndian.PutUint32(b[17:], record.Checksum(b)) }

// produceReq builds a produce request with one partition per entry.
func produceReq(acks int16, version int16, parts ...produceTP) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(version)
	req.Acks, req.TimeoutMillis = acks, 5000
	for _, p := range parts {
		var rt *kmsg.ProduceRequestTopic
		for i := range req.Topics {
			if req.Topics[i].Topic == p.topic {
				rt = &req.Topics[i]
			}
		}
		if rt == nil {
			req.Topics = append(req.Topics, kmsg.ProduceRequestTopic{Topic: p.topic})
			rt = &req.Topics[len(req.Topics)-1]
		}
		rt.Partitions = append(rt.Partitions, kmsg.ProduceRequestTopicPartition{Partition: p.partition, Records: p.records})
	}
	return req
}

type produceTP struct {
	topic     string
	partition int32
	records   []byte
}

// produceCode sends one partition's records with acks=-1 and returns the
// partition's error code, checking that the log end did not move when the
// produce failed.
func produceCode(t *testing.T, n *testNode, topic string, partition int32, records []byte) int16 {
	t.Helper()
	c := n.dial(t)
	before := latest(t, c, topic, partition)
	resp := c.roundTrip(produceReq(-1, produceVersion, produceTP{topic, partition, records})).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response: %+v", resp)
	}
	code := resp.Topics[0].Partitions[0].ErrorCode
	if code != 0 && before >= 0 {
		if after := latest(t, c, topic, partition); after != before {
			t.Errorf("failed produce (code %d) moved the log end from %d to %d", code, before, after)
		}
	}
	return code
}

// latest returns the partition's latest offset (high watermark) through
// ListOffsets, or -1 with the error code logged when it has none.
func latest(t *testing.T, c *rawConn, topic string, partition int32) int64 {
	t.Helper()
	resp := c.roundTrip(listOffsetsReq(topic, partition, -1)).(*kmsg.ListOffsetsResponse)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return -1
	}
	return p.Offset
}

func listOffsetsReq(topic string, partition int32, ts int64) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(listOffsetsVersion)
	tp := kmsg.NewListOffsetsRequestTopicPartition()
	tp.Partition, tp.Timestamp = partition, ts
	req.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: topic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{tp}}}
	return req
}

// wantCode checks an error code; a nil want means no error.
func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	code, name := int16(0), "NONE"
	if want != nil {
		code, name = want.Code, want.Message
	}
	if got != code {
		t.Errorf("%s: error code %d (%v), want %d (%s)", what, got, kerr.ErrorForCode(got), code, name)
	}
}

// wantEither accepts CORRUPT_MESSAGE or INVALID_RECORD: for bytes that are
// not a batch at all, Kafka's answer depends on where its batch iterator
// gives up, so only "rejected as bad records" is asserted.
func wantEither(t *testing.T, what string, got int16) {
	t.Helper()
	if got != kerr.CorruptMessage.Code && got != kerr.InvalidRecord.Code {
		t.Errorf("%s: error code %d (%v), want %d or %d", what, got, kerr.ErrorForCode(got), kerr.CorruptMessage.Code, kerr.InvalidRecord.Code)
	}
}

func testProduceBadCRC(t *testing.T, n *testNode) {
	b := validBatch(t, "crc")
	b[len(b)-1] ^= 0xff // in the record's value, under the CRC
	wantCode(t, "bad CRC", produceCode(t, n, "t", 0, b), kerr.CorruptMessage)
	b = validBatch(t, "crc")
	b[17] ^= 0x01 // the CRC field itself
	wantCode(t, "bad CRC field", produceCode(t, n, "t", 0, b), kerr.CorruptMessage)
	// The same batch with the CRC intact is accepted.
	wantCode(t, "good batch", produceCode(t, n, "t", 0, validBatch(t, "crc")), nil)
}

func testProduceTooLarge(t *testing.T, n *testNode) {
	b := validBatch(t, strings.Repeat("x", 1000)) // > max.message.bytes 256
	wantCode(t, "batch over max.message.bytes", produceCode(t, n, "small", 0, b), kerr.MessageTooLarge)
	wantCode(t, "small batch", produceCode(t, n, "small", 0, validBatch(t, "fits")), nil)
}

func testProduceTwoBatches(t *testing.T, n *testNode) {
	b := append(validBatch(t, "one"), validBatch(t, "two")...)
	wantCode(t, "two batches", produceCode(t, n, "t", 0, b), kerr.InvalidRecord)
}

func testProduceBaseOffset(t *testing.T, n *testNode) {
	b := validBatch(t, "base")
	binary.BigEndian.PutUint64(b, 5) // outside the CRC
	wantCode(t, "base offset 5", produceCode(t, n, "t", 0, b), kerr.InvalidRecord)
}

// Magic 1 in a v3+ produce: Kafka requires magic 2 (InvalidRecordException,
// INVALID_RECORD 87); the magic byte is outside the CRC.
func testProduceMagic1(t *testing.T, n *testNode) {
	b := validBatch(t, "magic")
	b[16] = 1
	wantCode(t, "magic 1", produceCode(t, n, "t", 0, b), kerr.InvalidRecord)
	b[16] = 0
	wantCode(t, "magic 0", produceCode(t, n, "t", 0, b), kerr.InvalidRecord)
}

// Header counts that cannot be true, with a correct CRC: Kafka requires a
// record count above zero that equals lastOffsetDelta+1 in a produced batch
// (INVALID_RECORD).
func testProduceBadCount(t *testing.T, n *testNode) {
	long := strings.Repeat("v", 100) // room for the claimed records
	for _, tc := range []struct {
		name       string
		count      uint32
		lastDelta  uint32
		value      string
		wantAppend bool
	}{
		{"records count 2^20", 1 << 20, 0, "count", false},
		{"records count 0", 0, 0, long, false},
		{"records count -1", 0xffffffff, 0, long, false},
		{"records count 2, lastOffsetDelta 0", 2, 0, long, false},
		{"records count 1, lastOffsetDelta 1", 1, 1, long, false},
		{"lastOffsetDelta -1", 1, 0xffffffff, long, false},
	} {
		b := validBatch(t, tc.value)
		binary.BigEndian.PutUint32(b[57:], tc.count)
		binary.BigEndian.PutUint32(b[23:], tc.lastDelta)
		reCRC(b)
		wantCode(t, tc.name, produceCode(t, n, "t", 0, b), kerr.InvalidRecord)
	}
}

// Bytes that are not a batch at all. Kafka answers CORRUPT_MESSAGE or
// INVALID_RECORD depending on where its batch iterator stops; the node
// answers INVALID_RECORD when the magic byte is wrong or the header's
// lengths are impossible, and CORRUPT_MESSAGE when the records are cut
// short (fewer bytes than a header, or than batchLength claims). Either
// way nothing is appended.
func testProduceGarbage(t *testing.T, n *testNode) {
	wantCode(t, "100 bytes of 0xab", produceCode(t, n, "t", 0, bytes.Repeat([]byte{0xab}, 100)), kerr.InvalidRecord)
	wantCode(t, "empty records", produceCode(t, n, "t", 0, []byte{}), kerr.CorruptMessage)
	wantCode(t, "null records", produceCode(t, n, "t", 0, nil), kerr.CorruptMessage)
	b := validBatch(t, "truncated")
	wantCode(t, "truncated batch", produceCode(t, n, "t", 0, b[:len(b)-3]), kerr.CorruptMessage)
	wantCode(t, "header only", produceCode(t, n, "t", 0, b[:record.HeaderSize]), kerr.CorruptMessage)
	b = validBatch(t, "length")
	binary.BigEndian.PutUint32(b[8:], 10) // batchLength below a header's
	wantCode(t, "batch length 10", produceCode(t, n, "t", 0, b), kerr.InvalidRecord)
	b = validBatch(t, "magic")
	b[16] = 3
	wantCode(t, "magic 3", produceCode(t, n, "t", 0, b), kerr.InvalidRecord)
	// Whatever Kafka would say, these are rejected as bad records.
	for _, g := range [][]byte{bytes.Repeat([]byte{0xab}, 100), {}, nil, b[:record.HeaderSize], bytes.Repeat([]byte{0}, 200)} {
		wantEither(t, "garbage", produceCode(t, n, "t", 0, g))
	}
}

func testProduceControl(t *testing.T, n *testNode) {
	b := validBatch(t, "control")
	b[22] |= record.ControlBit // attributes low byte
	reCRC(b)
	wantCode(t, "control batch", produceCode(t, n, "t", 0, b), kerr.InvalidRecord)
}

// acks=2: INVALID_REQUIRED_ACKS for every partition, known or not, and
// nothing appended.
func testProduceBadAcks(t *testing.T, n *testNode) {
	c := n.dial(t)
	before0, before1 := latest(t, c, "t", 0), latest(t, c, "t", 1)
	for _, v := range []int16{3, produceVersion} {
		req := produceReq(2, v,
			produceTP{"t", 0, validBatch(t, "a")},
			produceTP{"t", 1, validBatch(t, "b")},
			produceTP{"nope", 0, validBatch(t, "c")},
		)
		resp := c.roundTrip(req).(*kmsg.ProduceResponse)
		count := 0
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				count++
				wantCode(t, "acks=2 "+rt.Topic, p.ErrorCode, kerr.InvalidRequiredAcks)
			}
		}
		if count != 3 {
			t.Errorf("acks=2 v%d: %d partitions answered, want 3", v, count)
		}
	}
	if a, b := latest(t, c, "t", 0), latest(t, c, "t", 1); a != before0 || b != before1 {
		t.Errorf("acks=2 appended: log ends %d,%d -> %d,%d", before0, before1, a, b)
	}
}

// acks=0: a good batch gets no response and the connection goes on; a bad
// one gets no response and the connection is closed so the producer
// notices (Kafka's behaviour).
func testProduceAcks0Bad(t *testing.T, n *testNode) {
	c := n.dial(t)
	before := latest(t, c, "t", 0)
	c.send(produceReq(0, produceVersion, produceTP{"t", 0, validBatch(t, "acks0")}))
	// The next response on the wire must be the ApiVersions one.
	got := c.roundTrip(apiVersions(3)).(*kmsg.ApiVersionsResponse)
	if got.ErrorCode != 0 {
		t.Fatalf("ApiVersions after acks=0: error %d", got.ErrorCode)
	}
	if after := latest(t, c, "t", 0); after != before+1 {
		t.Errorf("acks=0 good batch: log end %d -> %d, want +1", before, after)
	}

	bad := validBatch(t, "acks0-bad")
	bad[len(bad)-1] ^= 0xff
	c.send(produceReq(0, produceVersion, produceTP{"t", 0, bad}))
	c.expectClosed()

	c = n.dial(t)
	c.send(produceReq(0, produceVersion, produceTP{"nope", 0, validBatch(t, "x")}))
	c.expectClosed()
	c = n.dial(t)
	if after := latest(t, c, "t", 0); after != before+1 {
		t.Errorf("acks=0 bad batch appended: log end %d, want %d", after, before+1)
	}
}

func testProduceUnknownTopic(t *testing.T, n *testNode) {
	wantCode(t, "unknown topic", produceCode(t, n, "nope", 0, validBatch(t, "x")), kerr.UnknownTopicOrPartition)
	if _, ok := n.Image().Topic("nope"); ok {
		t.Error("produce created the topic")
	}
}

// A partition index the topic does not have: Kafka answers
// UNKNOWN_TOPIC_OR_PARTITION (NOT_LEADER_OR_FOLLOWER is for partitions
// that exist but are led elsewhere).
func testProducePartitionOutOfRange(t *testing.T, n *testNode) {
	for _, p := range []int32{2, 100, -1} {
		wantCode(t, "partition out of range", produceCode(t, n, "t", p, validBatch(t, "x")), kerr.UnknownTopicOrPartition)
	}
}

// --- topic names ---

func testCreateInvalidTopicNames(t *testing.T, n *testNode) {
	c := n.dial(t)
	bad := []string{"", ".", "..", strings.Repeat("a", 250), "a/b", "ä", "a b", "a\x00"}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(createTopicsVer)
	req.TimeoutMillis = 5000
	for _, name := range bad {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
		req.Topics = append(req.Topics, rt)
	}
	before := n.Image().TopicNames()
	resp := c.roundTrip(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != len(bad) {
		t.Fatalf("%d topics answered, want %d", len(resp.Topics), len(bad))
	}
	for i, rt := range resp.Topics {
		if rt.Topic != bad[i] {
			t.Errorf("answer %d is for %q, want %q", i, rt.Topic, bad[i])
		}
		wantCode(t, "create "+quote(rt.Topic), rt.ErrorCode, kerr.InvalidTopicException)
	}
	// Metadata (auto-creation off here) answers the same for them.
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(metadataVersion)
	for _, name := range bad {
		md.Topics = append(md.Topics, kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr(name)})
	}
	for _, rt := range c.roundTrip(md).(*kmsg.MetadataResponse).Topics {
		wantCode(t, "metadata "+quote(*rt.Topic), rt.ErrorCode, kerr.InvalidTopicException)
	}
	if after := n.Image().TopicNames(); len(after) != len(before) {
		t.Errorf("topics %q -> %q", before, after)
	}
	// 249 characters is the longest legal name.
	n.createTopic(t, strings.Repeat("a", 249), 1, nil)
}

func quote(s string) string {
	if len(s) > 20 {
		return s[:10] + "..." + s[len(s)-5:]
	}
	return "\"" + s + "\""
}

// --- fetch ---

func fetchReq(topic string, partition int32, offset int64, epoch int32, maxWait, minBytes int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(fetchVersion)
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = maxWait, minBytes, 1<<20
	tp := kmsg.NewFetchRequestTopicPartition()
	tp.Partition, tp.FetchOffset, tp.CurrentLeaderEpoch, tp.PartitionMaxBytes = partition, offset, epoch, 1<<20
	req.Topics = []kmsg.FetchRequestTopic{{Topic: topic, Partitions: []kmsg.FetchRequestTopicPartition{tp}}}
	return req
}

func fetchOne(t *testing.T, c *rawConn, req *kmsg.FetchRequest) kmsg.FetchResponseTopicPartition {
	t.Helper()
	resp := c.roundTrip(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response: error %d, %d topics", resp.ErrorCode, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

func testFetchOutOfRange(t *testing.T, n *testNode) {
	c := n.dial(t)
	end := latest(t, c, "t", 0)
	for _, off := range []int64{end + 1, end + 1000, -5} {
		p := fetchOne(t, c, fetchReq("t", 0, off, -1, 0, 0))
		wantCode(t, "fetch out of range", p.ErrorCode, kerr.OffsetOutOfRange)
		if len(p.RecordBatches) != 0 {
			t.Errorf("fetch at %d returned %d bytes", off, len(p.RecordBatches))
		}
	}
	// At the log end: no error, no data.
	p := fetchOne(t, c, fetchReq("t", 0, end, -1, 0, 0))
	wantCode(t, "fetch at log end", p.ErrorCode, nil)
}

func testFetchUnknown(t *testing.T, n *testNode) {
	c := n.dial(t)
	p := fetchOne(t, c, fetchReq("nope", 0, 0, -1, 0, 0))
	wantCode(t, "fetch unknown topic", p.ErrorCode, kerr.UnknownTopicOrPartition)
	p = fetchOne(t, c, fetchReq("t", 7, 0, -1, 0, 0))
	wantCode(t, "fetch partition out of range", p.ErrorCode, kerr.UnknownTopicOrPartition)
}

// CurrentLeaderEpoch newer than the leader's: UNKNOWN_LEADER_EPOCH (75);
// older: FENCED_LEADER_EPOCH (74). A single node never changes leader, so
// the replica is moved to epoch 3 directly, as a leader election would.
func testFetchLeaderEpoch(t *testing.T, n *testNode) {
	n.createTopic(t, "epochs", 1, nil)
	p := n.Partition("epochs", 0)
	if p == nil {
		t.Fatal("no local replica of epochs-0")
	}
	p.SetState(partition.State{Leader: n.nodeID, LeaderEpoch: 3, Replicas: []int32{n.nodeID}, ISR: []int32{n.nodeID}})
	c := n.dial(t)
	for _, tc := range []struct {
		epoch int32
		want  *kerr.Error
	}{
		{4, kerr.UnknownLeaderEpoch},
		{1000, kerr.UnknownLeaderEpoch},
		{2, kerr.FencedLeaderEpoch},
		{0, kerr.FencedLeaderEpoch},
		{3, nil},
		{-1, nil},
	} {
		got := fetchOne(t, c, fetchReq("epochs", 0, 0, tc.epoch, 0, 0)).ErrorCode
		wantCode(t, "fetch with epoch", got, tc.want)
		lo := c.roundTrip(listOffsetsEpochReq("epochs", tc.epoch)).(*kmsg.ListOffsetsResponse)
		wantCode(t, "list offsets with epoch", lo.Topics[0].Partitions[0].ErrorCode, tc.want)
	}
}

func listOffsetsEpochReq(topic string, epoch int32) *kmsg.ListOffsetsRequest {
	req := listOffsetsReq(topic, 0, -1)
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = epoch
	return req
}

// MinBytes=1 on an empty partition waits MaxWaitMillis and returns no
// records; a record produced meanwhile wakes the fetch early.
func testFetchLongPoll(t *testing.T, n *testNode) {
	n.createTopic(t, "lp", 1, nil)
	c := n.dial(t)
	start := time.Now()
	p := fetchOne(t, c, fetchReq("lp", 0, 0, -1, 500, 1))
	el := time.Since(start)
	wantCode(t, "empty long poll", p.ErrorCode, nil)
	if len(p.RecordBatches) != 0 {
		t.Errorf("empty long poll returned %d bytes", len(p.RecordBatches))
	}
	if el < 400*time.Millisecond || el > 5*time.Second {
		t.Errorf("empty long poll with MaxWaitMillis=500 took %v", el)
	}

	// Wakeup: a 20 s poll answered soon after a produce on another connection.
	start = time.Now()
	corr := c.send(fetchReq("lp", 0, 0, -1, 20000, 1))
	time.Sleep(200 * time.Millisecond)
	wantCode(t, "produce during long poll", produceCode(t, n, "lp", 0, validBatch(t, "wake")), nil)
	resp := c.recv(kmsg.NewPtrFetchRequest(), corr, fetchVersion).(*kmsg.FetchResponse)
	el = time.Since(start)
	if el > 10*time.Second {
		t.Errorf("long poll not woken by a produce: answered after %v", el)
	}
	p = resp.Topics[0].Partitions[0]
	wantCode(t, "woken long poll", p.ErrorCode, nil)
	recs, err := record.Records(p.RecordBatches)
	if err != nil || len(recs) != 1 || string(recs[0].Value) != "wake" {
		t.Errorf("woken long poll: records %v, err %v", recs, err)
	}
}

// --- list offsets ---

func testListOffsetsUnknown(t *testing.T, n *testNode) {
	c := n.dial(t)
	for _, tc := range []struct {
		topic string
		p     int32
	}{{"nope", 0}, {"t", 2}, {"t", -1}} {
		for _, ts := range []int64{-1, -2, 0} {
			resp := c.roundTrip(listOffsetsReq(tc.topic, tc.p, ts)).(*kmsg.ListOffsetsResponse)
			wantCode(t, "list offsets "+tc.topic, resp.Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
		}
	}
}

// --- connections ---

// 100 connections closed abruptly (RST) at different points of a request:
// the node goes on serving and every connection's goroutines end.
func testAbruptConnections(t *testing.T, n *testNode) {
	n.createTopic(t, "abrupt", 1, nil)
	n.createTopic(t, "abrupt-empty", 1, nil)
	baseline := goleak.IgnoreCurrent()
	produce := kmsg.NewRequestFormatter().AppendRequest(nil, produceReq(-1, produceVersion, produceTP{"abrupt", 0, validBatch(t, "abrupt")}), 1)
	longPoll := kmsg.NewRequestFormatter().AppendRequest(nil, fetchReq("abrupt", 0, 1000, -1, 5000, 1), 1)
	waitPoll := kmsg.NewRequestFormatter().AppendRequest(nil, fetchReq("abrupt-empty", 0, 0, -1, 5000, 1), 1)
	versions := kmsg.NewRequestFormatter().AppendRequest(nil, apiVersions(3), 1)
	steps := []func(nc net.Conn){
		func(net.Conn) {}, // connect, then reset
		func(nc net.Conn) { nc.Write(produce[:2]) },                                // half a size prefix
		func(nc net.Conn) { nc.Write(produce[:len(produce)/2]) },                   // half a request
		func(nc net.Conn) { nc.Write(produce) },                                    // a whole acks=all produce, unread
		func(nc net.Conn) { nc.Write(waitPoll) },                                   // a long poll, in progress
		func(nc net.Conn) { nc.Write(bytes.Repeat(versions, 20)) },                 // pipelined, unread
		func(nc net.Conn) { nc.Write(append(bytes.Clone(waitPoll), versions...)) }, // responses queued behind a poll
		func(nc net.Conn) { nc.Write(longPoll) },                                   // out of range: answered at once
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i := range 100 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			nc, err := net.DialTimeout("tcp", n.addr, 5*time.Second)
			if err != nil {
				t.Errorf("dial %d: %v", i, err)
				return
			}
			steps[i%len(steps)](nc)
			if i%3 == 0 {
				time.Sleep(20 * time.Millisecond) // let the node get into the request
			}
			nc.(*net.TCPConn).SetLinger(0) // close with a reset
			nc.Close()
		}()
	}
	wg.Wait()
	goleak.VerifyNone(t, baseline)
}

func apiVersions(v int16) *kmsg.ApiVersionsRequest {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(v)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "badinput", "1"
	return req
}
