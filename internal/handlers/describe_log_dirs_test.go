package handlers

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/partition"
	"github.com/fjordlog/fjord/internal/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// logDirsNode is node 1 over leadersImage with two log dirs, local-0 in
// the second one holding one record.
func logDirsNode(t *testing.T) (h *Handlers, dirs []string, p *partition.Partition) {
	t.Helper()
	root := t.TempDir()
	dirs = []string{filepath.Join(root, "a"), filepath.Join(root, "b")}
	if err := os.Mkdir(dirs[0], 0o755); err != nil { // the broker creates its log dirs at start
		t.Fatal(err)
	}
	cfg, err := config.NewBroker(map[string]string{"log.dirs": dirs[0] + "," + dirs[1]})
	if err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.DiscardHandler)
	l, err := storage.Open(filepath.Join(dirs[1], "local-0"), storage.Options{Config: storage.DefaultConfig(), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p = partition.New(partition.Options{Topic: "local", TopicID: localID, LocalID: 1, Log: l, Logger: discard,
		Config: partition.Config{MinInsyncReplicas: 1, MaxMessageBytes: 1 << 20, ReplicaLagTimeMax: time.Minute, Storage: storage.DefaultConfig()}})
	p.SetState(partition.State{Leader: 1, LeaderEpoch: 2, Replicas: []int32{1}, ISR: []int32{1}})
	if _, err := p.AppendAsLeader(oneRecord(t), 1); err != nil {
		t.Fatal(err)
	}
	img := leadersImage(t)
	h = New(Deps{NodeID: 1, Config: cfg, Image: func() *metadata.Image { return img }, Partitions: onePartition{"local", p}, Logger: discard})
	return h, dirs, p
}

func logDirsReq(version int16, topics []kmsg.DescribeLogDirsRequestTopic) *kmsg.DescribeLogDirsRequest {
	r := versioned(kmsg.NewPtrDescribeLogDirsRequest(), version)
	r.Topics = topics
	return r
}

func TestDescribeLogDirs(t *testing.T) {
	h, dirs, p := logDirsNode(t)
	_, size := p.LogDir()
	if size == 0 {
		t.Fatal("empty log")
	}
	resp := serve(t, h, logDirsReq(4, nil)).(*kmsg.DescribeLogDirsResponse)
	if resp.ErrorCode != 0 || len(resp.Dirs) != 2 {
		t.Fatalf("top level %v, %d dirs", kerr.ErrorForCode(resp.ErrorCode), len(resp.Dirs))
	}
	a, b := resp.Dirs[0], resp.Dirs[1]
	if a.Dir != dirs[0] || b.Dir != dirs[1] || a.ErrorCode != 0 || b.ErrorCode != 0 {
		t.Fatalf("dirs %q (%d), %q (%d)", a.Dir, a.ErrorCode, b.Dir, b.ErrorCode)
	}
	if b.TotalBytes <= 0 || b.UsableBytes < 0 || b.UsableBytes > b.TotalBytes {
		t.Fatalf("total %d usable %d", b.TotalBytes, b.UsableBytes)
	}
	if len(a.Topics) != 0 || len(b.Topics) != 1 || b.Topics[0].Topic != "local" || len(b.Topics[0].Partitions) != 1 {
		t.Fatalf("topics %+v / %+v", a.Topics, b.Topics)
	}
	if got := b.Topics[0].Partitions[0]; got.Partition != 0 || got.Size != size || got.OffsetLag != 0 || got.IsFuture {
		t.Fatalf("local-0: %+v (size %d)", got, size)
	}
	// A filter without local-0 lists the dirs only; v0 has no byte counts.
	resp = serve(t, h, logDirsReq(0, []kmsg.DescribeLogDirsRequestTopic{{Topic: "moved", Partitions: []int32{0}}})).(*kmsg.DescribeLogDirsResponse)
	if len(resp.Dirs) != 2 || len(resp.Dirs[1].Topics) != 0 || resp.Dirs[1].TotalBytes != -1 {
		t.Fatalf("filtered v0: %+v", resp.Dirs)
	}
}

// DESCRIBE on the cluster is required: otherwise no dirs, and from v3 a
// top-level CLUSTER_AUTHORIZATION_FAILED.
func TestDescribeLogDirsAuthorization(t *testing.T) {
	n := newAuthzNode(t, forPrincipal(alice, clusterGrant(opDescribe)))
	resp := n.call(t, bob, false, logDirsReq(3, nil)).(*kmsg.DescribeLogDirsResponse)
	if resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(resp.Dirs) != 0 {
		t.Fatalf("bob: %v, %d dirs", kerr.ErrorForCode(resp.ErrorCode), len(resp.Dirs))
	}
	resp = n.call(t, alice, false, logDirsReq(3, nil)).(*kmsg.DescribeLogDirsResponse)
	if resp.ErrorCode != 0 || len(resp.Dirs) != 1 {
		t.Fatalf("alice: %v, %d dirs", kerr.ErrorForCode(resp.ErrorCode), len(resp.Dirs))
	}
}
