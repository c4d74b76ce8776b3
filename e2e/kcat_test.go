package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKcat produces key:value lines with kcat (librdkafka) with acks=all,
// uncompressed and with a codec, consumes them back with kcat, and checks
// kcat -L lists the broker and the topic.
func TestKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (apt-get install kcat); .ci/run installs it")
	}
	const (
		topic      = "kcat"
		partitions = 3
	)
	n := startNode(t, "")
	createTopic(t, n.admin(), topic, partitions, nil)

	var want []string
	for _, codec := range []string{"none", "lz4", "gzip", "snappy", "zstd"} {
		var in bytes.Buffer
		for i := range 200 {
			line := fmt.Sprintf("key-%s-%03d:value %s %d %s", codec, i, codec, i, strings.Repeat("z", i%50))
			in.WriteString(line + "\n")
			want = append(want, line)
		}
		runKcat(t, kcat, &in, "-b", n.addr, "-P", "-t", topic, "-K:", "-X", "acks=all", "-z", codec)
	}

	out := runKcat(t, kcat, nil, "-b", n.addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k:%s\n")
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("kcat consumed %d lines, want the %d produced; first difference: %s", len(got), len(want), firstDiff(got, want))
	}
	ends := offsets(t, n.admin().ListEndOffsets, topic)
	var sum int64
	for _, e := range ends {
		sum += e
	}
	if sum != int64(len(want)) {
		t.Errorf("end offsets %v sum to %d, want %d", ends, sum, len(want))
	}
	checkKcatList(t, kcat, n, topic, partitions)
}

// runKcat runs kcat with args and stdin, failing the test on error or
// after a minute, and returns its stdout.
func runKcat(t *testing.T, kcat string, stdin *bytes.Buffer, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\nstderr:\n%s", strings.Join(args, " "), err, tail(stderr.String(), 40))
	}
	return stdout.String()
}

// checkKcatList checks kcat -L -J: the one broker at the node's address,
// and topic with its partitions, each led by the broker.
func checkKcatList(t *testing.T, kcat string, n *node, topic string, partitions int) {
	t.Helper()
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Leader    int32 `json:"leader"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	out := runKcat(t, kcat, nil, "-b", n.addr, "-L", "-J")
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, out)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != 1 || strings.TrimSuffix(md.Brokers[0].Name, "/1") != n.addr {
		t.Errorf("kcat -L lists brokers %+v, want broker 1 at %s", md.Brokers, n.addr)
	}
	for _, tp := range md.Topics {
		if tp.Topic != topic {
			continue
		}
		if len(tp.Partitions) != partitions {
			t.Errorf("kcat -L: topic %s has %d partitions, want %d", topic, len(tp.Partitions), partitions)
		}
		for _, p := range tp.Partitions {
			if p.Leader != 1 {
				t.Errorf("kcat -L: %s[%d] led by %d, want 1", topic, p.Partition, p.Leader)
			}
		}
		return
	}
	t.Errorf("kcat -L does not list topic %s:\n%s", topic, out)
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("line %d: got %q, want %q", i, got[i], want[i])
		}
	}
	if len(got) > len(want) {
		return fmt.Sprintf("extra line %q", got[len(want)])
	}
	if len(got) < len(want) {
		return fmt.Sprintf("missing line %q", want[len(got)])
	}
	return "none"
}
