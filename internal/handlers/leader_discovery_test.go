package handlers

// KIP-951 leader discovery in Produce (v10+) and Fetch (v16+), and the
// Fetch versions that carry it: topic ids (v13+) and ReplicaState (v15+).

import (
	"context"
	"log/slog"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/record"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/fjordlog/fjord/internal/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	movedID = metadata.UUID{7} // topic "moved": led elsewhere
	localID = metadata.UUID{8} // topic "local": led by this node (1)
)

// leadersImage: brokers 1 (listener X, h1:9092), 2 (X, h2:9093, rack r2),
// 3 (X, fenced) and 4 (only listener Y). Topic "moved" has partitions led
// by 2 (epoch 5), 4 (epoch 3), nobody (epoch 8), 3 (epoch 1) and 2 (epoch
// 6); topic "local" one partition led by 1 in epoch 2.
func leadersImage(t *testing.T) *metadata.Image {
	t.Helper()
	x := func(host string, port int32) []metadata.Endpoint {
		return []metadata.Endpoint{{Name: "X", Host: host, Port: port}}
	}
	recs := []metadata.Record{
		metadata.ClusterID{ID: "c"},
		metadata.RegisterBroker{ID: 1, Endpoints: x("h1", 9092)},
		metadata.RegisterBroker{ID: 2, Endpoints: x("h2", 9093), Rack: "r2"},
		metadata.RegisterBroker{ID: 3, Endpoints: x("h3", 9094), Fenced: true},
		metadata.RegisterBroker{ID: 4, Endpoints: []metadata.Endpoint{{Name: "Y", Host: "h4", Port: 9095}}},
		metadata.Topic{Name: "moved", ID: movedID},
		metadata.Topic{Name: "local", ID: localID},
		metadata.Partition{TopicID: localID, Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2},
	}
	for i, le := range [][2]int32{{2, 5}, {4, 3}, {-1, 8}, {3, 1}, {2, 6}} {
		recs = append(recs, metadata.Partition{TopicID: movedID, Partition: int32(i), Replicas: []int32{2, 1},
			ISR: []int32{2, 1}, Leader: le[0], LeaderEpoch: le[1]})
	}
	img, _, err := metadata.Empty().Apply(1, recs)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// onePartition holds one local replica.
type onePartition struct {
	topic string
	p     *partition.Partition
}

func (o onePartition) Partition(topic string, idx int32) *partition.Partition {
	if topic == o.topic && idx == 0 {
		return o.p
	}
	return nil
}

// leadersNode is node 1 over leadersImage, leading local-0 in epoch 2.
func leadersNode(t *testing.T) *Handlers {
	t.Helper()
	discard := slog.New(slog.DiscardHandler)
	l, err := storage.Open(filepath.Join(t.TempDir(), "local-0"), storage.Options{Config: storage.DefaultConfig(), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := partition.New(partition.Options{Topic: "local", TopicID: localID, LocalID: 1, Log: l, Logger: discard,
		Config: partition.Config{MinInsyncReplicas: 1, MaxMessageBytes: 1 << 20, ReplicaLagTimeMax: time.Minute, Storage: storage.DefaultConfig()}})
	p.SetState(partition.State{Leader: 1, LeaderEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{1}})
	img := leadersImage(t)
	return New(Deps{NodeID: 1, Image: func() *metadata.Image { return img }, Partitions: onePartition{"local", p}, Logger: discard})
}

// serve handles body on listener X and returns the (possibly delayed)
// response after an encode/decode round trip at the request's version,
// so that only what travels on the wire is checked.
func serve(t *testing.T, h *Handlers, body kmsg.Request) kmsg.Response {
	t.Helper()
	reply := h.Handle(context.Background(), &server.Request{Body: body, Listener: "X"})
	resp := reply.Response
	if wait := delayed(reply); wait != nil {
		select {
		case resp = <-wait:
		case <-time.After(5 * time.Second):
			t.Fatal("no response in time")
		}
	}
	if resp == nil {
		t.Fatalf("no response (close %v)", reply.Close)
	}
	if _, ok := resp.(*server.FetchResponse); ok {
		resp = fetchOf(resp)
	}
	decoded := kmsg.ResponseForKey(body.Key())
	decoded.SetVersion(body.GetVersion())
	if err := decoded.ReadFrom(resp.AppendTo(nil)); err != nil {
		t.Fatalf("response does not decode: %v", err)
	}
	return decoded
}

func oneRecord(t *testing.T) []byte {
	t.Helper()
	b, err := record.BuildBatch(record.CompressionNone, 1700000000000, []record.Record{{Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func produceTo(t *testing.T, version int16, batch []byte) *kmsg.ProduceRequest {
	r := versioned(kmsg.NewPtrProduceRequest(), version)
	r.Acks, r.TimeoutMillis = -1, 5000
	moved := kmsg.ProduceRequestTopic{Topic: "moved"}
	for i := range int32(5) {
		moved.Partitions = append(moved.Partitions, kmsg.ProduceRequestTopicPartition{Partition: i, Records: batch})
	}
	local := kmsg.ProduceRequestTopic{Topic: "local", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}
	r.Topics = []kmsg.ProduceRequestTopic{moved, local}
	return r
}

// leaderOf is a partition's CurrentLeader as (id, epoch).
type leaderOf [2]int32

// wantMovedLeaders are the hints of moved's partitions: the image's
// leaders and epochs, also for a leaderless partition and a fenced leader.
var wantMovedLeaders = []leaderOf{{2, 5}, {4, 3}, {-1, 8}, {3, 1}, {2, 6}}

func rack(s string) *string { return &s }

// A produce to partitions this node does not lead answers
// NOT_LEADER_OR_FOLLOWER with each one's current leader and epoch, and the
// endpoints on the request's listener of the leaders that have one and
// are unfenced, each once (v10+); before v10 the response has neither.
func TestProduceLeaderDiscovery(t *testing.T) {
	h := leadersNode(t)
	for _, v := range []int16{9, 10, 11, 12} {
		resp := serve(t, h, produceTo(t, v, oneRecord(t))).(*kmsg.ProduceResponse)
		moved, local := resp.Topics[0], resp.Topics[1]
		if local.Partitions[0].ErrorCode != 0 || local.Partitions[0].CurrentLeader.LeaderID != -1 {
			t.Errorf("v%d: local partition: %+v", v, local.Partitions[0])
		}
		var got []leaderOf
		for _, p := range moved.Partitions {
			if p.ErrorCode != kerr.NotLeaderForPartition.Code {
				t.Fatalf("v%d: moved-%d: error %d", v, p.Partition, p.ErrorCode)
			}
			got = append(got, leaderOf{p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch})
		}
		wantLeaders, wantBrokers := wantMovedLeaders, []kmsg.ProduceResponseBroker{{NodeID: 2, Host: "h2", Port: 9093, Rack: rack("r2")}}
		if v < 10 {
			wantLeaders, wantBrokers = []leaderOf{{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}}, nil
		}
		if !reflect.DeepEqual(got, wantLeaders) {
			t.Errorf("v%d: current leaders %v, want %v", v, got, wantLeaders)
		}
		if !reflect.DeepEqual(resp.Brokers, wantBrokers) {
			t.Errorf("v%d: brokers %+v, want %+v", v, resp.Brokers, wantBrokers)
		}
	}
}

func fetchByID(version int16, topics ...kmsg.FetchRequestTopic) *kmsg.FetchRequest {
	r := versioned(kmsg.NewPtrFetchRequest(), version)
	r.MaxBytes, r.MaxWaitMillis, r.Topics = 1<<20, 0, topics
	return r
}

// fetchTopic asks for the partitions of a topic, by name and id (the
// request's version picks which travels), from offset 0 in epoch.
func fetchTopic(name string, id metadata.UUID, epoch int32, parts ...int32) kmsg.FetchRequestTopic {
	t := kmsg.FetchRequestTopic{Topic: name, TopicID: id}
	for _, p := range parts {
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = p, 1<<20, epoch
		t.Partitions = append(t.Partitions, fp)
	}
	return t
}

// A fetch from a partition this node does not lead (NOT_LEADER_OR_FOLLOWER)
// or with a stale leader epoch (FENCED_LEADER_EPOCH) carries the current
// leader and epoch, and the response the leaders' endpoints (v16+, as
// Kafka; before, neither).
func TestFetchLeaderDiscovery(t *testing.T) {
	h := leadersNode(t)
	for _, v := range []int16{12, 13, 15, 16} {
		resp := fetchOf(serve(t, h, fetchByID(v, fetchTopic("moved", movedID, -1, 0, 1, 2, 3, 4), fetchTopic("local", localID, 1, 0))))
		var got []leaderOf
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != kerr.NotLeaderForPartition.Code {
				t.Fatalf("v%d: moved-%d: error %d", v, p.Partition, p.ErrorCode)
			}
			got = append(got, leaderOf{p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch})
		}
		fenced := resp.Topics[1].Partitions[0]
		if fenced.ErrorCode != kerr.FencedLeaderEpoch.Code {
			t.Fatalf("v%d: local-0 in epoch 1: error %d", v, fenced.ErrorCode)
		}
		got = append(got, leaderOf{fenced.CurrentLeader.LeaderID, fenced.CurrentLeader.LeaderEpoch})
		wantLeaders := append(append([]leaderOf{}, wantMovedLeaders...), leaderOf{1, 2})
		wantBrokers := []kmsg.FetchResponseBroker{{NodeID: 2, Host: "h2", Port: 9093, Rack: rack("r2")}, {NodeID: 1, Host: "h1", Port: 9092}}
		if v < 16 {
			wantLeaders, wantBrokers = []leaderOf{{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}}, nil
		}
		if !reflect.DeepEqual(got, wantLeaders) {
			t.Errorf("v%d: current leaders %v, want %v", v, got, wantLeaders)
		}
		if !reflect.DeepEqual(resp.Brokers, wantBrokers) {
			t.Errorf("v%d: brokers %+v, want %+v", v, resp.Brokers, wantBrokers)
		}
	}
}

// From v13 topics travel by id: records are read by id, the response
// names the topic by id, and an unknown id answers UNKNOWN_TOPIC_ID on
// each of its partitions.
func TestFetchByTopicID(t *testing.T) {
	h := leadersNode(t)
	prod := versioned(kmsg.NewPtrProduceRequest(), 9)
	prod.Acks, prod.TimeoutMillis = 1, 5000
	prod.Topics = []kmsg.ProduceRequestTopic{{Topic: "local", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: oneRecord(t)}}}}
	if p := serve(t, h, prod).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
		t.Fatalf("produce: %d", p.ErrorCode)
	}
	unknown := metadata.UUID{99}
	for _, v := range []int16{13, 14, 15, 16} {
		resp := fetchOf(serve(t, h, fetchByID(v, fetchTopic("", localID, 2, 0), fetchTopic("", unknown, -1, 0, 1))))
		local, gone := resp.Topics[0], resp.Topics[1]
		if local.TopicID != localID || local.Partitions[0].ErrorCode != 0 || local.Partitions[0].HighWatermark != 1 || len(local.Partitions[0].RecordBatches) == 0 {
			t.Errorf("v%d: local by id: %+v", v, local)
		}
		if gone.TopicID != unknown || len(gone.Partitions) != 2 {
			t.Fatalf("v%d: unknown id: %+v", v, gone)
		}
		for _, p := range gone.Partitions {
			if p.ErrorCode != kerr.UnknownTopicID.Code {
				t.Errorf("v%d: unknown id partition %d: error %d", v, p.Partition, p.ErrorCode)
			}
		}
	}
}

// The replica id travels in ReplicaState from v15 (the old field is gone
// from the wire): a follower fetch there still needs CLUSTER_ACTION, and a
// consumer's READ is checked on the topic its id names.
func TestFetchReplicaStateAndIDsAuthorized(t *testing.T) {
	n := newAuthzNode(t, forPrincipal(alice, topicGrant("t", opRead)))
	decoded := func(r *kmsg.FetchRequest) *kmsg.FetchRequest {
		out := kmsg.NewPtrFetchRequest()
		out.SetVersion(r.Version)
		if err := out.ReadFrom(r.AppendTo(nil)); err != nil {
			t.Fatal(err)
		}
		return out
	}
	follower := fetchByID(15, fetchTopic("", testTopicIDs["t"], -1, 0))
	follower.ReplicaState.ID = 2
	if got := fetchPartCode(n.call(t, alice, false, decoded(follower))); got != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("v15 follower without CLUSTER_ACTION: %s", errName(got))
	}
	consumer := fetchByID(15, fetchTopic("", testTopicIDs["t"], -1, 0))
	if got := fetchPartCode(n.call(t, alice, false, decoded(consumer))); got == kerr.TopicAuthorizationFailed.Code {
		t.Errorf("v15 consumer with READ: %s", errName(got))
	}
	secret := fetchByID(16, fetchTopic("", testTopicIDs["secret"], -1, 0), fetchTopic("", metadata.UUID{99}, -1, 0))
	resp := fetchOf(n.call(t, alice, false, decoded(secret)))
	if got := resp.Topics[0].Partitions[0].ErrorCode; got != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("v16 topic id without READ: %s", errName(got))
	}
	if got := resp.Topics[1].Partitions[0].ErrorCode; got != kerr.UnknownTopicID.Code {
		t.Errorf("v16 unknown topic id: %s", errName(got))
	}
}

// A record appended between a fetch's first read and its long poll's
// watcher registration wakes the long poll (it reads again once
// registered). The lost wake-up held acks=all writes behind a follower's
// long poll until it timed out: RF=3 at 5 MB/s had a p50 of 250 ms.
func TestFetchLongPollSeesAppendBeforeWatch(t *testing.T) {
	h := leadersNode(t)
	p := h.d.Partitions.Partition("local", 0)
	beforeLongPollWatch = func() {
		if _, err := p.AppendAsLeader(oneRecord(t), 1); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { beforeLongPollWatch = func() {} })
	r := fetchByID(13, fetchTopic("", localID, 2, 0))
	r.MaxWaitMillis, r.MinBytes = 60000, 1
	resp := fetchOf(serve(t, h, r)) // serve fails after 5 s without an answer
	if len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatal("the long poll answered without the appended record")
	}
}
