package chaos

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fakeBatches returns batches with base offsets from, from+1, ... (one
// record each), of 100 bytes each: only their base offset and length
// matter to the power loss.
func fakeBatches(from int64, n int) []byte {
	var out []byte
	for i := range n {
		b := make([]byte, 100)
		binary.BigEndian.PutUint64(b, uint64(from+int64(i)))
		binary.BigEndian.PutUint32(b[8:], 100-12)
		b[50] = byte(i + 1)
		out = append(out, b...)
	}
	return out
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// powerLossDir lays out a node's data dir: t-0 has a rolled segment
// (offsets 0-2) and an active one (3-9) fsynced up to offset 5 by the
// recovery-point checkpoint; t-1 is not in the checkpoint yet.
func powerLossDir(t *testing.T) (dir string, rolled, active []byte) {
	dir = t.TempDir()
	rolled, active = fakeBatches(0, 3), fakeBatches(3, 7)
	writeFile(t, filepath.Join(dir, "t-0", "00000000000000000000.log"), rolled)
	writeFile(t, filepath.Join(dir, "t-0", "00000000000000000003.log"), active)
	writeFile(t, filepath.Join(dir, "t-0", "00000000000000000003.index"), make([]byte, 80))
	writeFile(t, filepath.Join(dir, "t-1", "00000000000000000000.log"), fakeBatches(0, 4))
	writeFile(t, filepath.Join(dir, "__cluster_metadata-0", "wal"), []byte("fsynced"))
	writeFile(t, filepath.Join(dir, "recovery-point-offset-checkpoint"), []byte("0\n1\nt 0 5\n"))
	return dir, rolled, active
}

// The power loss never touches what was fsynced: rolled segments, the
// active segment below the recovery point, the metadata quorum's files.
// It loses some of the rest, and a partition directory the checkpoint
// does not list may vanish.
func TestLoseUnsyncedKeepsSyncedBytes(t *testing.T) {
	vanished := 0
	for seed := range uint64(40) {
		dir, rolled, active := powerLossDir(t)
		how, err := loseUnsynced(dir, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "t-0", "00000000000000000000.log")); !bytes.Equal(b, rolled) {
			t.Fatalf("seed %d: rolled segment changed (%s)", seed, how)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "t-0", "00000000000000000003.log"))
		if synced := 2 * 100; len(got) < synced || !bytes.Equal(got[:synced], active[:synced]) {
			t.Fatalf("seed %d: fsynced part of the active segment lost: %d bytes left (%s)", seed, len(got), how)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "__cluster_metadata-0", "wal")); string(b) != "fsynced" {
			t.Fatalf("seed %d: metadata quorum files touched", seed)
		}
		if _, err := os.Stat(filepath.Join(dir, "t-1")); os.IsNotExist(err) {
			vanished++
		}
	}
	if vanished == 0 || vanished == 40 {
		t.Fatalf("an unlisted partition dir vanished in %d of 40 power losses, want some", vanished)
	}
}

// syncedLength is the position of the first batch at or past the
// recovery point: the bytes of the segment a power loss keeps.
func TestSyncedLength(t *testing.T) {
	path := filepath.Join(t.TempDir(), "00000000000000000003.log")
	writeFile(t, path, fakeBatches(3, 7))
	for _, tc := range []struct{ rp, want int64 }{{0, 0}, {3, 0}, {4, 100}, {5, 200}, {10, 700}, {99, 700}} {
		if got, err := syncedLength(path, tc.rp); err != nil || got != tc.want {
			t.Errorf("syncedLength(rp %d) = %d, %v; want %d", tc.rp, got, err, tc.want)
		}
	}
}

// Run refuses disk-full without per-node filesystems.
func TestRunRefusesDiskFaultWithoutDisk(t *testing.T) {
	_, err := Run(context.Background(), Config{Bin: "/nonexistent", Dir: t.TempDir(), Faults: []Fault{diskFull{}}})
	if err == nil || !strings.Contains(err.Error(), "--disk-mb") {
		t.Fatalf("Run: %v, want a refusal naming --disk-mb", err)
	}
	if !NeedsDisk(diskFull{}) || NeedsDisk(lostUnsynced{}) {
		t.Fatal("NeedsDisk is wrong")
	}
}

// mountDisks gives each node a tmpfs that fill fills to ENOSPC, and
// unmounts it again (needs root).
func TestMountDisksAndFill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Nodes: []*Node{{ID: 1, DataDir: dir}}}
	unmount, err := mountDisks(c, 2)
	if err != nil {
		t.Skipf("cannot mount (needs root): %v", err)
	}
	defer unmount(false)
	n, err := fill(filepath.Join(dir, "chaos-filler"))
	if err != nil || n < 1<<20 || n > 2<<20 {
		t.Fatalf("fill wrote %d bytes: %v; want about 2 MiB", n, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "more"), make([]byte, 8192), 0o644); err == nil {
		t.Fatal("a write succeeded on the full disk")
	}
	unmount(true)
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Type == 0x01021994 { // TMPFS_MAGIC
		t.Fatalf("still a tmpfs after unmount (%v)", err)
	}
	if _, err := os.Stat(dir + ".disk/chaos-filler"); err != nil {
		t.Fatalf("contents not saved: %v", err)
	}
}

// A tail flush synced the index entries of the batches below the
// recovery point: the power loss keeps them, and zeroes or keeps those
// past it. Snapshots (never fsynced) are kept, cut or lost.
func TestLoseUnsyncedIndexTailsAndSnapshots(t *testing.T) {
	seen := map[string]bool{}
	for seed := range uint64(40) {
		dir, _, _ := powerLossDir(t)
		t0 := filepath.Join(dir, "t-0")
		idx := make([]byte, 80) // (rel 1, pos 100) below the recovery point 5, (rel 3, pos 300) past it
		binary.BigEndian.PutUint32(idx[0:], 1)
		binary.BigEndian.PutUint32(idx[4:], 100)
		binary.BigEndian.PutUint32(idx[8:], 3)
		binary.BigEndian.PutUint32(idx[12:], 300)
		writeFile(t, filepath.Join(t0, "00000000000000000003.index"), idx)
		tidx := make([]byte, 36) // (ts 1000, rel 1), (ts 2000, rel 3)
		binary.BigEndian.PutUint64(tidx[0:], 1000)
		binary.BigEndian.PutUint32(tidx[8:], 1)
		binary.BigEndian.PutUint64(tidx[12:], 2000)
		binary.BigEndian.PutUint32(tidx[20:], 3)
		writeFile(t, filepath.Join(t0, "00000000000000000003.timeindex"), tidx)
		snap := bytes.Repeat([]byte{7}, 50)
		writeFile(t, filepath.Join(t0, "00000000000000000003.snapshot"), snap)
		how, err := loseUnsynced(dir, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		gotIdx, _ := os.ReadFile(filepath.Join(t0, "00000000000000000003.index"))
		gotT, _ := os.ReadFile(filepath.Join(t0, "00000000000000000003.timeindex"))
		if !bytes.Equal(gotIdx[:8], idx[:8]) || !bytes.Equal(gotT[:12], tidx[:12]) {
			t.Fatalf("seed %d: synced index entries lost (%s)", seed, how)
		}
		switch {
		case bytes.Equal(gotIdx, idx) && bytes.Equal(gotT, tidx):
			seen["entries kept"] = true
		case allZeroBytes(gotIdx[8:]) && allZeroBytes(gotT[12:]):
			seen["entries zeroed"] = true
		default:
			t.Fatalf("seed %d: index files %x / %x (%s)", seed, gotIdx, gotT, how)
		}
		got, err := os.ReadFile(filepath.Join(t0, "00000000000000000003.snapshot"))
		switch {
		case os.IsNotExist(err):
			seen["snapshot lost"] = true
		case bytes.Equal(got, snap):
			seen["snapshot kept"] = true
		case len(got) < len(snap) && bytes.Equal(got, snap[:len(got)]):
			seen["snapshot cut"] = true
		default:
			t.Fatalf("seed %d: snapshot %x, %v", seed, got, err)
		}
	}
	if len(seen) != 5 {
		t.Fatalf("outcomes seen: %v", seen)
	}
}
