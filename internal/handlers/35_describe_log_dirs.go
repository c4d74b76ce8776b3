package handlers

// DescribeLogDirs (key 35), versions 0-4 (KIP-113; kafka-log-dirs,
// kadm's DescribeAllLogDirs).
//
// One entry per log dir of this broker (log.dirs, or log.dir when
// log.dirs is not set, as the broker opens them), by absolute path, with
// (v4) the total and usable bytes of its file system from statfs (-1 when
// statfs fails, and then KAFKA_STORAGE_ERROR for the dir). Under each dir
// the local replicas (leaders and followers) it holds, limited to the
// requested partitions (all when Topics is null): Size is the bytes of
// their segments; OffsetLag is, as Kafka computes it for a current (not
// future) replica, max(0, HW - LEO) of the local replica, so 0 in
// practice — a follower does not know its leader's log end locally;
// IsFuture is always false (no replica moves between dirs: Fjord has no
// AlterReplicaLogDirs). A broker whose log dir failed halts (storage
// errors are fail-stop), so a live broker reports no offline dir.
//
// Authorization (as Kafka): DESCRIBE on the cluster, else no dirs and,
// from v3, CLUSTER_AUTHORIZATION_FAILED at the top level.

import (
	"context"
	"path/filepath"
	"syscall"

	"github.com/fjordlog/fjord/internal/config"
	"github.com/fjordlog/fjord/internal/metadata"
	"github.com/fjordlog/fjord/internal/server"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *Handlers) describeLogDirs(_ context.Context, req *server.Request) server.Reply {
	r := req.Body.(*kmsg.DescribeLogDirsRequest)
	resp := kmsg.NewPtrDescribeLogDirsResponse()
	if !h.authorizeCluster(req, metadata.ACLOpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(req, resp)
	}
	for _, path := range brokerLogDirs(h.d.Config) {
		resp.Dirs = append(resp.Dirs, describeDir(path))
	}
	dirs := make(map[string]*kmsg.DescribeLogDirsResponseDir, len(resp.Dirs))
	for i := range resp.Dirs {
		dirs[resp.Dirs[i].Dir] = &resp.Dirs[i]
	}
	h.addLocalReplicas(requestedPartitions(h.d.Image(), r), dirs)
	return respond(req, resp)
}

// brokerLogDirs is the broker's log dirs as it opens them: log.dirs, or
// log.dir when log.dirs is left at its default.
func brokerLogDirs(c *config.Broker) []string {
	if c == nil {
		return nil
	}
	if c.Source("log.dirs") != config.SourceStaticBroker && c.String("log.dir") != "" {
		return []string{c.String("log.dir")}
	}
	return c.List("log.dirs")
}

// describeDir is one log dir's entry, without partitions yet.
func describeDir(path string) kmsg.DescribeLogDirsResponseDir {
	d := kmsg.NewDescribeLogDirsResponseDir()
	d.Dir = absDir(path)
	d.TotalBytes, d.UsableBytes = -1, -1
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.Dir, &st); err != nil {
		d.ErrorCode = kerr.KafkaStorageError.Code
		return d
	}
	d.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
	d.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
	return d
}

// absDir is path made absolute and clean (Kafka reports absolute paths).
func absDir(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// topicPartitions lists partition indexes by topic name, in request (or
// name) order.
type topicPartitions struct {
	names []string
	parts map[string][]int32
}

// requestedPartitions is what the request asks for: the listed partitions
// of existing topics, or every partition when Topics is null.
func requestedPartitions(img *metadata.Image, r *kmsg.DescribeLogDirsRequest) topicPartitions {
	out := topicPartitions{parts: map[string][]int32{}}
	type tp struct {
		name string
		idx  int32
	}
	seen := map[tp]bool{}
	add := func(name string, idx int32) {
		if seen[tp{name, idx}] {
			return
		}
		seen[tp{name, idx}] = true
		if _, known := out.parts[name]; !known {
			out.names = append(out.names, name)
		}
		out.parts[name] = append(out.parts[name], idx)
	}
	if r.Topics == nil {
		for _, name := range img.TopicNames() {
			t, _ := img.Topic(name)
			for i := range t.Partitions {
				add(name, int32(i))
			}
		}
		return out
	}
	for _, t := range r.Topics {
		for _, idx := range t.Partitions {
			if hasPartition(img, t.Topic, idx) {
				add(t.Topic, idx)
			}
		}
	}
	return out
}

// addLocalReplicas adds each requested partition this node holds a
// replica of to its log dir's entry.
func (h *Handlers) addLocalReplicas(want topicPartitions, dirs map[string]*kmsg.DescribeLogDirsResponseDir) {
	for _, name := range want.names {
		for _, idx := range want.parts[name] {
			p := h.d.Partitions.Partition(name, idx)
			if p == nil {
				continue
			}
			dir, size := p.LogDir()
			d := dirs[absDir(dir)]
			if d == nil {
				continue
			}
			rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			rp.Partition, rp.Size = idx, size
			rp.OffsetLag = max(0, p.HighWatermark()-p.LogEndOffset())
			t := logDirTopic(d, name)
			t.Partitions = append(t.Partitions, rp)
		}
	}
}

// logDirTopic returns d's entry for topic, adding it when missing (topics
// are added in order, so the last one is the only candidate).
func logDirTopic(d *kmsg.DescribeLogDirsResponseDir, topic string) *kmsg.DescribeLogDirsResponseDirTopic {
	if n := len(d.Topics); n > 0 && d.Topics[n-1].Topic == topic {
		return &d.Topics[n-1]
	}
	t := kmsg.NewDescribeLogDirsResponseDirTopic()
	t.Topic = topic
	d.Topics = append(d.Topics, t)
	return &d.Topics[len(d.Topics)-1]
}
