package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/fjordlog/fjord/internal/chaos"
)

// TestBenchRestartParseByteSize reads sizes with and without binary
// suffixes and refuses the rest.
func TestBenchRestartParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"4096": 4096, "100B": 100, "64MiB": 64 << 20, "10GiB": 10 << 30, "1.5 kib": 1536, "2G": 2 << 30, "1TB": 1 << 40,
	} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1MiB", "0", "ten", "1PiB", "9999999TiB"} {
		if _, err := parseByteSize(bad); err == nil {
			t.Errorf("parseByteSize(%q): want an error", bad)
		}
	}
}

// TestBenchRestartOutcome checks how the answers to the re-sent probe
// read.
func TestBenchRestartOutcome(t *testing.T) {
	for _, tt := range []struct {
		retry produceAnswer
		want  string
	}{
		{produceAnswer{offset: 7}, outcomeDeduplicated},
		{produceAnswer{offset: 9000}, outcomeAppended},
		{produceAnswer{offset: -1, err: context.DeadlineExceeded}, "error: context deadline exceeded"},
	} {
		s := probeOutcome{Offset: 7, RetryOffset: -1, NextOffset: -1}
		s.record(tt.retry, produceAnswer{offset: 9001}, nil)
		if s.Outcome != tt.want || s.NextOffset != 9001 {
			t.Errorf("retry %+v: %+v, want %q and next offset 9001", tt.retry, s, tt.want)
		}
	}
}

// TestBenchRestartWatchExit checks that measuring stops as soon as the
// server process exits: a "server" that is /bin/false.
func TestBenchRestartWatchExit(t *testing.T) {
	c, err := chaos.NewCluster("/bin/false", t.TempDir(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stop := watchExit(ctx, c.Nodes[0], cancel)
	defer stop()
	select {
	case <-ctx.Done():
		if !errors.Is(context.Cause(ctx), errServerExited) {
			t.Errorf("cause %v, want errServerExited", context.Cause(ctx))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the exit was not noticed")
	}
}

// runBenchRestartCmd runs `fjord bench restart args... --json` with
// TMPDIR set to tmp and decodes its report.
func runBenchRestartCmd(t *testing.T, tmp string, args ...string) restartReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, suiteBinary(t), append([]string{"bench", "restart", "--json"}, args...)...)
	cmd.Env = append(cmd.Environ(), "TMPDIR="+tmp, "FJORD_BOOTSTRAP=")
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("fjord bench restart %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	t.Logf("stderr:\n%s", stderr.String())
	var rep restartReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decoding the report: %v\n%s", err, stdout.String())
	}
	return rep
}

// TestBenchRestartEndToEnd crashes a node holding 64 MiB in 3
// partitions of 4 MiB segments and checks every figure was measured.
func TestBenchRestartEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts fjord processes")
	}
	tmp := t.TempDir()
	rep := runBenchRestartCmd(t, tmp, "--bytes", "64MiB", "--partitions", "3", "--config", "log.segment.bytes=4194304")
	if rep.Error != "" || rep.Mode != "SIGKILL" || rep.LoadBytes != 64<<20 || rep.LoadMBPerSec <= 0 {
		t.Errorf("report: %+v", rep)
	}
	if rep.ListenerMs < 0 || rep.ProduceMs < 0 || rep.FetchMs < 0 || rep.CPUSeconds < 0 || rep.RecoveryLines < 0 {
		t.Errorf("restart figures: listener %v ms, produce %v ms, fetch %v ms, CPU %v s",
			rep.ListenerMs, rep.ProduceMs, rep.FetchMs, rep.CPUSeconds)
	}
	if len(rep.PerPartition) != 3 {
		t.Fatalf("%d partitions measured, want 3", len(rep.PerPartition))
	}
	survived := 0
	for _, pf := range rep.PerPartition {
		checkRestartPartition(t, pf, rep)
		if pf.State.Outcome == outcomeDeduplicated {
			survived++
		}
	}
	if survived != rep.Survived {
		t.Errorf("producer state survived %d, but %d partitions deduplicated", rep.Survived, survived)
	}
	checkCleanedUp(t, tmp)
}

// checkRestartPartition checks one partition's figures: several
// segments, both phases reached by the report's maxima, and the probe
// answered without error.
func checkRestartPartition(t *testing.T, pf restartPartition, rep restartReport) {
	t.Helper()
	if pf.Segments < 2 || pf.EndOffset <= 0 || pf.State.Offset != 0 {
		t.Errorf("partition %d before the crash: %+v", pf.Partition, pf)
	}
	if pf.ProduceMs < 0 || pf.ProduceMs > rep.ProduceMs || pf.FetchMs < 0 || pf.FetchMs > rep.FetchMs {
		t.Errorf("partition %d: produce %v ms (max %v), fetch %v ms (max %v)",
			pf.Partition, pf.ProduceMs, rep.ProduceMs, pf.FetchMs, rep.FetchMs)
	}
	s := pf.State
	if (s.Outcome != outcomeDeduplicated && s.Outcome != outcomeAppended) || s.RetryOffset < 0 || s.NextOffset <= 0 || s.NextError != "" {
		t.Errorf("partition %d producer state: %+v", pf.Partition, s)
	}
}
