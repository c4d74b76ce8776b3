package chaos

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Disk faults: F12 lost unsynced writes (a power loss of one node) and F10
// a full disk. The disk-full fault needs every node's data dir on its own
// small filesystem (Config.DiskMB: a tmpfs per node, mounted by Run).

// NeedsDisk says whether f needs each node's data dir on its own small
// filesystem (Config.DiskMB, --disk-mb).
func NeedsDisk(f Fault) bool {
	n, ok := f.(interface{ needsDisk() bool })
	return ok && n.needsDisk()
}

// diskFaults are the faults of this file.
func diskFaults() []Fault {
	return []Fault{lostUnsynced{}, lostUnsynced{bounce: true}, diskFull{}}
}

// lostUnsynced (F12) SIGKILLs the leader of a random partition and then
// makes its data dir look like the disk after a power loss: in every
// partition directory, bytes written since the last fsync are lost.
//
// What fjord fsyncs, and so what survives: a segment's .log and index
// files when it rolls (and the directory entry of the new active segment),
// the active segment's bytes and index entries at a tail flush
// (log.recovery.flush.bytes), everything on Flush (flush.messages,
// flush.ms: never by default) and after recovery; the recovery point in
// recovery-point-offset-checkpoint is the offset below which the log is
// fsynced. Producer-state snapshots are never fsynced: each may be cut
// short or lost. Checkpoint files
// (recovery point, high watermark, leader epochs, partition.metadata) are
// written to a temporary file, fsynced and renamed, with the directory
// fsynced, so they survive whole — and may now point past the shorter log.
//
// So in each partition the active segment is cut at a random byte between
// its fsynced length and its end (a prefix of the unsynced pages reached
// the disk), or keeps its length with the unsynced tail zeroed (the size
// reached the disk, the data pages did not). Its index files, written
// only at roll or flush, lose their unsynced entries (zeroed, or the files
// are gone). A partition directory the recovery-point checkpoint does not
// list yet was created after the log dir was last fsynced: its directory
// entry may be lost with everything in it. The metadata quorum's WAL
// (__cluster_metadata-0) is fsynced before Raft acts on it and is left
// alone. The node restarts at heal (with bounce: at once, before its
// broker session expires — the KIP-966 case of a broker that lost
// acknowledged data rejoining); the other replicas hold every
// acknowledged record.
type lostUnsynced struct{ bounce bool }

func (f lostUnsynced) Name() string {
	if f.bounce {
		return "lost-unsynced-bounce"
	}
	return "lost-unsynced"
}

func (f lostUnsynced) Inject(ctx context.Context, e *Env) (string, func() error, error) {
	nd, err := pick(ctx, e, "leader")
	if err != nil {
		return "", nil, err
	}
	nd.Kill()
	how, err := loseUnsynced(nd.DataDir, e.Rand)
	target := fmt.Sprintf("node %d: %s", nd.ID, how)
	if err != nil {
		return target, nd.Start, err
	}
	if f.bounce {
		return target, nil, nd.Start()
	}
	return target, nd.Start, nil
}

// loseUnsynced applies a power loss to the partition directories under
// dataDir (see lostUnsynced) and says what it did.
func loseUnsynced(dataDir string, r *rand.Rand) (string, error) {
	rps, err := readOffsetCheckpoint(filepath.Join(dataDir, "recovery-point-offset-checkpoint"))
	if err != nil {
		return "", err
	}
	dirs, err := partitionDirs(dataDir)
	if err != nil {
		return "", err
	}
	var did []string
	for _, name := range dirs {
		how, err := losePartition(filepath.Join(dataDir, name), rps, r)
		if err != nil {
			return strings.Join(did, "; "), fmt.Errorf("%s: %w", name, err)
		}
		if how != "" {
			did = append(did, name+" "+how)
		}
	}
	if len(did) == 0 {
		return "nothing unsynced", nil
	}
	return strings.Join(did, "; "), nil
}

// losePartition applies the power loss to one partition directory.
func losePartition(dir string, rps map[string]int64, r *rand.Rand) (string, error) {
	rp, listed := rps[filepath.Base(dir)]
	if !listed && r.IntN(2) == 0 {
		return "lost with its directory entry (created after the last log dir fsync)", os.RemoveAll(dir)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) == 0 {
		return "", nil
	}
	slices.Sort(logs)
	how, err := cutActive(logs[len(logs)-1], rp, r)
	if err != nil {
		return how, err
	}
	snaps, err := loseSnapshots(dir, r)
	return how + snaps, err
}

// loseSnapshots damages the producer-state snapshots of a partition
// directory: they are written without fsync, so each may be kept, cut
// short or gone.
func loseSnapshots(dir string, r *rand.Rand) (string, error) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
	cut, gone := 0, 0
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		switch r.IntN(3) {
		case 1:
			cut++
			err = os.Truncate(p, r.Int64N(st.Size()+1))
		case 2:
			gone++
			err = os.Remove(p)
		}
		if err != nil {
			return "", err
		}
	}
	if cut+gone == 0 {
		return "", nil
	}
	return fmt.Sprintf(", snapshots: %d cut, %d removed", cut, gone), nil
}

// cutActive loses the unsynced tail of the active segment at path, given
// the recovery point rp (earlier segments were fsynced when they rolled).
func cutActive(path string, rp int64, r *rand.Rand) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	synced, err := syncedLength(path, rp)
	if err != nil {
		return "", err
	}
	if synced >= st.Size() {
		return "", nil
	}
	at := synced + r.Int64N(st.Size()-synced+1)
	how, err := cutLog(path, st.Size(), at, r.IntN(3) == 0)
	if err != nil {
		return how, err
	}
	idx, err := loseIndexes(path, synced, rp, r)
	return how + idx, err
}

// cutLog truncates the file at path to at bytes, or (zero) keeps its size
// and zeroes everything from at on.
func cutLog(path string, size, at int64, zero bool) (string, error) {
	base := filepath.Base(path)
	if !zero {
		return fmt.Sprintf("%s cut from %d to %d bytes", base, size, at), os.Truncate(path, at)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return "", err
	}
	_, err = f.WriteAt(make([]byte, size-at), at)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return fmt.Sprintf("%s zeroed from byte %d of %d", base, at, size), err
}

// loseIndexes drops the unsynced entries of the index files of the
// segment whose .log is logPath: when nothing of the segment was synced
// its index files are zeroed (their preallocated size reached the disk)
// or removed (even that did not); otherwise (a tail flush synced the
// entries of the batches below the recovery point rp) the entries past
// them are zeroed or kept.
func loseIndexes(logPath string, synced, rp int64, r *rand.Rand) (string, error) {
	stem := strings.TrimSuffix(logPath, ".log")
	if synced > 0 {
		if r.IntN(2) == 0 {
			return "", nil
		}
		return ", unsynced index entries zeroed", zeroIndexTails(stem, synced, rp)
	}
	remove := r.IntN(2) == 0
	for _, suffix := range []string{".index", ".timeindex"} {
		if err := loseFile(stem+suffix, remove); err != nil {
			return "", err
		}
	}
	if remove {
		return ", index files removed", nil
	}
	return ", index files zeroed", nil
}

// loseFile removes the file at path or zeroes its contents.
func loseFile(path string, remove bool) error {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if remove {
		return os.Remove(path)
	}
	if err := os.Truncate(path, 0); err != nil {
		return err
	}
	return os.Truncate(path, st.Size())
}

// zeroIndexTails zeroes, in the index files at stem (.index entries:
// relative offset int32, position int32; .timeindex: timestamp int64,
// relative offset int32), the entries of batches at or past position
// synced, respectively offsets at or past rp.
func zeroIndexTails(stem string, synced, rp int64) error {
	base, err := strconv.ParseInt(filepath.Base(stem), 10, 64)
	if err != nil {
		return err
	}
	if err := zeroEntriesFrom(stem+".index", 8, func(e []byte) bool {
		return int64(binary.BigEndian.Uint32(e[4:])) >= synced
	}); err != nil {
		return err
	}
	return zeroEntriesFrom(stem+".timeindex", 12, func(e []byte) bool {
		return base+int64(binary.BigEndian.Uint32(e[8:])) >= rp
	})
}

// zeroEntriesFrom zeroes a file of size-byte entries from the first
// non-zero entry for which past holds.
func zeroEntriesFrom(path string, size int, past func([]byte) bool) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for i := 0; i+size <= len(b); i += size {
		e := b[i : i+size]
		if !allZeroBytes(e) && past(e) {
			clear(b[i:])
			return os.WriteFile(path, b, 0o644)
		}
	}
	return nil
}

func allZeroBytes(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// syncedLength returns how many bytes of the segment at path lie below
// offset rp: the position of its first batch whose base offset is >= rp
// (the file size when there is none).
func syncedLength(path string, rp int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var pos int64
	var hdr [12]byte // baseOffset int64, batchLength int32
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return pos, nil // end of file, or a torn header
		}
		base := int64(binary.BigEndian.Uint64(hdr[:8]))
		n := int64(int32(binary.BigEndian.Uint32(hdr[8:])))
		if base >= rp || n <= 0 {
			return pos, nil
		}
		if _, err := br.Discard(int(n)); err != nil {
			return pos, nil
		}
		pos += 12 + n
	}
}

// partitionDirs lists the partition directories (<topic>-<n>) under
// dataDir, without the metadata quorum's and deleted ones.
func partitionDirs(dataDir string) ([]string, error) {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		i := strings.LastIndexByte(name, '-')
		if !e.IsDir() || i <= 0 || strings.HasPrefix(name, "__cluster_metadata") {
			continue
		}
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			out = append(out, name)
		}
	}
	return out, nil
}

// readOffsetCheckpoint reads a per-log-dir offset checkpoint (version
// line, count line, "<topic> <partition> <offset>" lines) keyed by the
// partition's directory name. A missing file is empty.
func readOffsetCheckpoint(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, l := range lines[min(2, len(lines)):] {
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s: malformed line %q", path, l)
		}
		off, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: malformed line %q", path, l)
		}
		out[f[0]+"-"+f[1]] = off
	}
	return out, nil
}

// diskFull (F10) fills the data dir filesystem of the leader of a random
// partition with a filler file until the filesystem reports ENOSPC, and
// holds it full. Appends, index and checkpoint writes and the metadata
// WAL then fail on that node; like Kafka (a broker whose only log dir
// failed halts), the node must stop rather than go on with a stopped log
// or acknowledge writes it did not store. Heal removes the filler and
// restarts the node if it stopped. It needs Config.DiskMB.
type diskFull struct{}

func (diskFull) Name() string    { return "disk-full" }
func (diskFull) needsDisk() bool { return true }

func (diskFull) Inject(ctx context.Context, e *Env) (string, func() error, error) {
	nd, err := pick(ctx, e, "leader")
	if err != nil {
		return "", nil, err
	}
	filler := filepath.Join(nd.DataDir, "chaos-filler")
	n, err := fill(filler)
	target := fmt.Sprintf("node %d: filled with %d KiB", nd.ID, n>>10)
	heal := func() error {
		stopped := nd.State() == Stopped
		e.Log("disk-full: node %d stopped on its own: %v", nd.ID, stopped)
		if err := os.Remove(filler); err != nil {
			return err
		}
		if stopped {
			return nd.Start()
		}
		return nil
	}
	return target, heal, err
}

// fill writes to a new file at path until the filesystem is full (ENOSPC)
// and returns how many bytes it wrote; any other error is returned.
func fill(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	for _, chunk := range []int{1 << 20, 4 << 10, 1} {
		buf := make([]byte, chunk)
		for {
			n, err := f.Write(buf)
			total += int64(n)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// mountDisks gives every node's data dir its own tmpfs of mb MiB (the
// dirs must exist and hold nothing yet). The returned function stops the
// cluster and unmounts them, first copying (save) each one's contents to
// <data dir>.disk for a kept run's post-mortem; it may be called more than
// once. mb <= 0 mounts nothing.
func mountDisks(c *Cluster, mb int) (func(save bool), error) {
	var mounted []string
	unmount := func(save bool) {
		c.Close()
		for _, dir := range mounted {
			if save {
				_ = exec.Command("cp", "-a", "--sparse=always", dir+"/.", dir+".disk").Run()
			}
			if err := syscall.Unmount(dir, 0); err != nil {
				_ = syscall.Unmount(dir, syscall.MNT_DETACH)
			}
		}
		mounted = nil
	}
	if mb <= 0 {
		return unmount, nil
	}
	for _, nd := range c.Nodes {
		if err := syscall.Mount("tmpfs", nd.DataDir, "tmpfs", 0, fmt.Sprintf("size=%dm", mb)); err != nil {
			unmount(false)
			return nil, fmt.Errorf("mounting a %d MiB tmpfs on %s (needs root): %w", mb, nd.DataDir, err)
		}
		mounted = append(mounted, nd.DataDir)
	}
	return unmount, nil
}
