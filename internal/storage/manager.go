package storage

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fjordlog/fjord/internal/vfs"
)

// Per-log-dir files.
const (
	recoveryPointFile     = "recovery-point-offset-checkpoint"
	logStartFile          = "log-start-offset-checkpoint"
	replicationOffsetFile = "replication-offset-checkpoint"
	cleanerOffsetFile     = "cleaner-offset-checkpoint" // Log.CleanerCheckpoint of compacted logs
	cleanShutdownFile     = ".kafka_cleanshutdown"
	partitionMetadataFile = "partition.metadata"
	deleteDirSuffix       = "-delete"
	// metadataTopic's directory (__cluster_metadata-0) may sit in a log
	// dir but belongs to the metadata quorum, not to this Manager.
	metadataTopic = "__cluster_metadata"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns "<topic>-<partition>", the partition's directory name.
func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// logDir is one of the node's log.dirs with what was read from it at open.
type logDir struct {
	path  string
	clean bool // had a clean-shutdown marker
	// Last known checkpoint values, for partitions not loaded (yet).
	recovery, logStart, hw, cleaner map[TopicPartition]int64
	parts                           map[TopicPartition]bool // partition dirs present
}

// Manager owns the log directories of one node (log.dirs): it finds the
// partition logs on disk, opens them with their checkpointed recovery
// point and log start offset, places new ones, and writes the per-dir
// checkpoint files and clean-shutdown markers. Its methods are safe for
// concurrent use. Lock order: Manager.mu before a Log's mutex (Remove and
// Close close logs under Manager.mu; Load opens them without it); a Log never calls the
// Manager.
type Manager struct {
	fs     vfs.FS
	logger *slog.Logger
	now    func() time.Time

	// failed receives the first storage failure: a log's sticky failure
	// or a failed checkpoint write (see Failed). Buffered; never blocks.
	failed   chan error
	failOnce sync.Once

	mu sync.Mutex
	// checkpointMu makes Checkpoint calls write the files one at a time;
	// it guards written.
	checkpointMu sync.Mutex
	written      checkpointCache
	dirs         []*logDir
	logs         map[TopicPartition]*Log
	where        map[TopicPartition]*logDir
	loading      map[TopicPartition]chan struct{} // loads in progress; closed when done
}

// OpenManager opens (creating when missing) the log directories: it notes
// and removes each one's clean-shutdown marker, reads its checkpoint files
// and partition directories, and removes directories named *-delete that
// an interrupted Remove left behind. A malformed checkpoint file is an
// error (fail-stop, as in Kafka).
func OpenManager(dirs []string, logger *slog.Logger, now func() time.Time) (*Manager, error) {
	return OpenManagerFS(vfs.Default, dirs, logger, now)
}

// OpenManagerFS is OpenManager on the filesystem fs: every file of the log
// dirs and of the logs it opens is read and written through fs (tests
// pass vfs.NewStrictMem or vfs.Inject).
func OpenManagerFS(fs vfs.FS, dirs []string, logger *slog.Logger, now func() time.Time) (*Manager, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	m := &Manager{fs: fs, logger: logger, now: now, written: checkpointCache{}, logs: map[TopicPartition]*Log{}, where: map[TopicPartition]*logDir{},
		loading: map[TopicPartition]chan struct{}{}, failed: make(chan error, 1)}
	for _, path := range dirs {
		d, err := m.openDir(path)
		if err != nil {
			return nil, fmt.Errorf("storage: log dir %s: %w", path, err)
		}
		m.dirs = append(m.dirs, d)
	}
	return m, nil
}

func (m *Manager) openDir(path string) (*logDir, error) {
	if err := vfs.MkdirAllSynced(m.fs, path, 0o755); err != nil {
		return nil, err
	}
	d := &logDir{path: path, parts: map[TopicPartition]bool{}}
	var err error
	if d.clean, err = takeMarker(m.fs, path); err != nil {
		return nil, err
	}
	if err := d.readCheckpoints(m.fs); err != nil {
		return nil, err
	}
	if err := m.scanPartitions(d); err != nil {
		return nil, err
	}
	m.logger.Info("storage: opened log dir", "dir", path, "clean_shutdown", d.clean, "partitions", len(d.parts))
	return d, nil
}

// CleanShutdown reports whether every log dir had its clean-shutdown
// marker when the Manager opened it: the previous process closed every log
// cleanly, so no unsynced write can have been lost since.
func (m *Manager) CleanShutdown() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.dirs {
		if !d.clean {
			return false
		}
	}
	return len(m.dirs) > 0
}

// takeMarker reports whether the clean-shutdown marker exists and removes
// it, so that a crash from now on is seen as unclean.
func takeMarker(fs vfs.FS, dir string) (bool, error) {
	err := fs.Remove(filepath.Join(dir, cleanShutdownFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, fs.SyncDir(dir)
}

func (d *logDir) readCheckpoints(fs vfs.FS) error {
	var err error
	if d.recovery, err = readOffsetCheckpoint(fs, filepath.Join(d.path, recoveryPointFile)); err != nil {
		return err
	}
	if d.logStart, err = readOffsetCheckpoint(fs, filepath.Join(d.path, logStartFile)); err != nil {
		return err
	}
	if d.hw, err = readOffsetCheckpoint(fs, filepath.Join(d.path, replicationOffsetFile)); err != nil {
		return err
	}
	d.cleaner, err = readOffsetCheckpoint(fs, filepath.Join(d.path, cleanerOffsetFile))
	return err
}

// scanPartitions records the partition directories of d and removes the
// leftovers of interrupted deletes.
func (m *Manager) scanPartitions(d *logDir) error {
	entries, err := m.fs.ReadDir(d.path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if strings.HasSuffix(e.Name(), deleteDirSuffix) {
			m.logger.Info("storage: removing partially deleted log", "dir", e.Name())
			if err := m.fs.RemoveAll(filepath.Join(d.path, e.Name())); err != nil {
				return err
			}
			continue
		}
		if tp, ok := parsePartitionDir(e.Name()); ok && tp.Topic != metadataTopic {
			d.parts[tp] = true
			m.where[tp] = d
		}
	}
	return nil
}

// parsePartitionDir parses "<topic>-<partition>"; topics may contain '-'.
func parsePartitionDir(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return TopicPartition{}, false
	}
	return TopicPartition{Topic: name[:i], Partition: int32(p)}, true
}

// Existing returns the partitions whose directories exist on disk (found
// at open or created since), loaded or not.
func (m *Manager) Existing() []TopicPartition {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]TopicPartition, 0, len(m.where))
	for tp := range m.where {
		out = append(out, tp)
	}
	return out
}

// Loading returns how many logs are being opened (or recovered) now.
func (m *Manager) Loading() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.loading)
}

// Get returns the loaded log of tp, or nil.
func (m *Manager) Get(tp TopicPartition) *Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logs[tp]
}

// HighWatermark returns tp's high watermark from the replication-offset
// checkpoint (or the last Checkpoint call), or 0 when absent; the caller
// clamps it to [log start, LEO].
func (m *Manager) HighWatermark(tp TopicPartition) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.where[tp]; d != nil {
		return d.hw[tp]
	}
	return 0
}

// Load returns tp's log, opening it on first use: an existing directory is
// opened with its dir's checkpointed recovery point and log start offset
// and clean-shutdown flag (recovering when unclean); a new one goes to the
// log dir holding the fewest partitions and is opened lazily (Options.Lazy):
// its directory, with a partition.metadata file recording topicID, and its
// files are created with its first batch. When both the stored and the
// given topic id are non-zero and differ, Load fails: the directory
// belongs to an older topic of the same name.
//
// The file work (creation, recovery) runs without the Manager's lock, so
// the logs of many partitions load concurrently; concurrent Loads of one
// partition wait for the first, and Remove and Close wait for loads in
// progress.
func (m *Manager) Load(tp TopicPartition, topicID [16]byte, cfg Config) (*Log, error) {
	m.mu.Lock()
	for m.loading[tp] != nil {
		m.waitLoad(tp)
	}
	if l := m.logs[tp]; l != nil {
		m.mu.Unlock()
		return l, nil
	}
	d := m.where[tp]
	if d == nil {
		d = m.leastLoaded()
	}
	existed := d.parts[tp]
	opts := Options{
		Config: cfg, RecoveryPoint: d.recovery[tp], LogStartOffset: d.logStart[tp],
		Clean: d.clean && existed, Now: m.now, Logger: m.logger, OnFailure: m.fail,
		PersistLogStart: func() error { return m.checkpointLogStart(d) },
	}
	done := make(chan struct{})
	m.loading[tp], d.parts[tp] = done, true // counted at once, for leastLoaded
	m.mu.Unlock()

	l, err := m.open(filepath.Join(d.path, tp.String()), topicID, opts)

	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.loading, tp)
	close(done)
	if err != nil {
		d.parts[tp] = existed
		return nil, err
	}
	l.SetCleanerCheckpoint(d.cleaner[tp])
	m.where[tp], m.logs[tp] = d, l
	return l, nil
}

// waitLoad waits, with m.mu held (released while waiting), until tp's load
// in progress ends.
func (m *Manager) waitLoad(tp TopicPartition) {
	done := m.loading[tp]
	m.mu.Unlock()
	<-done
	m.mu.Lock()
}

// waitLoads waits, with m.mu held, until no load is in progress.
func (m *Manager) waitLoads() {
	for len(m.loading) > 0 {
		for tp := range m.loading {
			m.waitLoad(tp)
			break
		}
	}
}

// open opens the log at path and records its topic id; it runs without
// m.mu.
func (m *Manager) open(path string, topicID [16]byte, opts Options) (*Log, error) {
	if err := checkPartitionMetadata(m.fs, path, topicID); err != nil {
		return nil, err
	}
	opts.Lazy = true
	opts.FS = m.fs
	opts.OnCreate = func(dir string) error { return writePartitionMetadata(m.fs, dir, topicID) }
	l, err := Open(path, opts)
	if err != nil {
		return nil, m.failIO(err)
	}
	if l.Unborn() {
		return l, nil
	}
	if err := writePartitionMetadata(m.fs, path, topicID); err != nil {
		l.Close()
		return nil, m.failIO(fmt.Errorf("storage: %s: %w", path, err))
	}
	return l, nil
}

// leastLoaded returns the log dir with the fewest partitions.
func (m *Manager) leastLoaded() *logDir {
	best := m.dirs[0]
	for _, d := range m.dirs[1:] {
		if len(d.parts) < len(best.parts) {
			best = d
		}
	}
	return best
}

// checkPartitionMetadata fails when dir's partition.metadata names another
// (non-zero) topic id than topicID.
func checkPartitionMetadata(fs vfs.FS, dir string, topicID [16]byte) error {
	data, err := vfs.ReadFile(fs, filepath.Join(dir, partitionMetadataFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	stored, err := parsePartitionMetadata(data)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", dir, err)
	}
	if stored != ([16]byte{}) && topicID != ([16]byte{}) && stored != topicID {
		return fmt.Errorf("storage: %s belongs to topic id %s, not %s", dir, encodeTopicID(stored), encodeTopicID(topicID))
	}
	return nil
}

func parsePartitionMetadata(data []byte) ([16]byte, error) {
	var id [16]byte
	for line := range strings.Lines(string(data)) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "topic_id: ")
		if !ok {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) != 16 {
			return id, fmt.Errorf("malformed %s topic_id %q", partitionMetadataFile, v)
		}
		copy(id[:], b)
		return id, nil
	}
	return id, fmt.Errorf("%s has no topic_id", partitionMetadataFile)
}

// encodeTopicID renders a UUID the way Kafka does: base64url, no padding.
func encodeTopicID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// writePartitionMetadata writes partition.metadata unless it exists.
func writePartitionMetadata(fs vfs.FS, dir string, topicID [16]byte) error {
	if _, err := fs.Stat(filepath.Join(dir, partitionMetadataFile)); err == nil {
		return nil
	}
	data := fmt.Sprintf("version: 0\ntopic_id: %s\n", encodeTopicID(topicID))
	return vfs.WriteFileAtomic(fs, dir, partitionMetadataFile, []byte(data))
}

// Remove closes tp's log (if loaded) and deletes its directory: it is
// first renamed to <topic>-<partition>.<random hex>-delete, so an
// interrupted delete is finished by the next OpenManager.
func (m *Manager) Remove(tp TopicPartition) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.loading[tp] != nil {
		m.waitLoad(tp)
	}
	d := m.where[tp]
	if d == nil {
		return nil
	}
	if l := m.logs[tp]; l != nil {
		l.mu.Lock()
		if !l.closed {
			l.closeFiles()
		}
		l.mu.Unlock()
	}
	delete(m.logs, tp)
	delete(m.where, tp)
	delete(d.parts, tp)
	delete(d.recovery, tp)
	delete(d.logStart, tp)
	delete(d.hw, tp)
	delete(d.cleaner, tp)
	return removePartitionDir(m.fs, d.path, tp)
}

func removePartitionDir(fs vfs.FS, dir string, tp TopicPartition) error {
	var suffix [16]byte
	rand.Read(suffix[:])
	from := filepath.Join(dir, tp.String())
	to := filepath.Join(dir, fmt.Sprintf("%s.%s%s", tp, hex.EncodeToString(suffix[:]), deleteDirSuffix))
	if err := fs.Rename(from, to); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("storage: remove %s: %w", tp, err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return fmt.Errorf("storage: remove %s: %w", tp, err)
	}
	if err := fs.RemoveAll(to); err != nil {
		return fmt.Errorf("storage: remove %s: %w", tp, err)
	}
	return nil
}

// Checkpoint writes, for every log dir, the recovery-point, log-start and
// replication-offset checkpoints (each atomically: temporary file, fsync,
// rename, directory fsync). Loaded logs contribute their current recovery
// point and log start; hws gives high watermarks. Partitions missing from
// hws, or present on disk but not loaded, keep their last known values.
//
// The files are written (and fsynced) without the Manager's lock, so a
// slow disk holds up no Load, Get or Remove; checkpointMu keeps one
// writer at a time.
func (m *Manager) Checkpoint(hws map[TopicPartition]int64) error {
	m.checkpointMu.Lock()
	defer m.checkpointMu.Unlock()
	m.mu.Lock()
	dirs := make([]string, len(m.dirs))
	files := make([][]checkpointFile, len(m.dirs))
	for i, d := range m.dirs {
		m.refresh(d, hws)
		dirs[i], files[i] = d.path, d.checkpointFiles()
	}
	m.mu.Unlock()
	var errs []error
	for i, dir := range dirs {
		if err := m.writeCheckpointFiles(dir, files[i]); err != nil {
			errs = append(errs, fmt.Errorf("storage: checkpoint %s: %w", dir, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.fail(err)
		return err
	}
	return nil
}

// Failed returns a channel that receives the first storage failure of
// this Manager's log dirs: a log's sticky failure (wrapping ErrLogFailed:
// a write, fsync, read or delete failed, e.g. ENOSPC) or a checkpoint
// file that could not be written. Kafka takes such a log dir offline and
// a broker whose log dirs are all offline halts; the owner decides (the
// broker halts: it has no way yet to report one offline dir of several
// to the controller). Later failures are not sent.
func (m *Manager) Failed() <-chan error { return m.failed }

// failIO reports err on the Failed channel when it is an I/O failure (it
// carries an errno: ENOSPC, EIO, EROFS, ...), as Kafka takes a log dir
// offline when creating or loading a log in it throws an IOException;
// other errors (a malformed file, another topic's directory) concern
// this partition only. It returns err.
func (m *Manager) failIO(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		m.fail(err)
	}
	return err
}

// fail reports err on the Failed channel unless a failure already was.
// It never blocks and takes no lock of the Manager's: logs call it with
// their mutex held.
func (m *Manager) fail(err error) {
	m.failOnce.Do(func() { m.failed <- err })
}

// refresh updates d's remembered checkpoint values from the loaded logs.
func (m *Manager) refresh(d *logDir, hws map[TopicPartition]int64) {
	for tp := range d.parts {
		if l := m.logs[tp]; l != nil {
			d.recovery[tp] = l.RecoveryPoint()
			d.logStart[tp] = l.LogStartOffset()
			if _, known := d.cleaner[tp]; known || l.CleanerCheckpoint() > 0 {
				d.cleaner[tp] = l.CleanerCheckpoint()
			}
		}
		if hw, ok := hws[tp]; ok {
			d.hw[tp] = hw
		}
	}
}

// checkpointFile is one checkpoint file's name and contents.
type checkpointFile struct {
	name    string
	offsets map[TopicPartition]int64
}

// checkpointFiles returns copies of d's checkpoint contents (the
// partitions present in d only); m.mu must be held.
func (d *logDir) checkpointFiles() []checkpointFile {
	return []checkpointFile{
		{recoveryPointFile, d.only(d.recovery)}, {logStartFile, d.only(d.logStart)},
		{replicationOffsetFile, d.only(d.hw)}, {cleanerOffsetFile, d.only(d.cleaner)},
	}
}

// writeCheckpointFiles writes the checkpoint files of the log dir at dir
// that changed since they were last written; checkpointMu must be held.
func (m *Manager) writeCheckpointFiles(dir string, files []checkpointFile) error {
	for _, f := range files {
		if err := m.written.write(m.fs, dir, f.name, f.offsets); err != nil {
			return err
		}
	}
	return nil
}

// only restricts offsets to the partitions present in d.
func (d *logDir) only(offsets map[TopicPartition]int64) map[TopicPartition]int64 {
	out := make(map[TopicPartition]int64, len(d.parts))
	for tp := range d.parts {
		if off, ok := offsets[tp]; ok {
			out[tp] = off
		}
	}
	return out
}

// Close closes every loaded log, writes the checkpoints, then writes the
// clean-shutdown marker in each log dir whose logs all closed cleanly —
// and, if that dir was not clean at open, all of whose partitions were
// loaded (recovered) in this run: a marker must never vouch for a log that
// was left unrecovered.
// The Manager must not be used afterwards.
func (m *Manager) Close(hws map[TopicPartition]int64) error {
	m.mu.Lock()
	m.waitLoads()
	failed := map[*logDir]bool{}
	var errs []error
	for tp, l := range m.logs {
		if err := l.Close(); err != nil {
			failed[m.where[tp]] = true
			errs = append(errs, err)
		}
	}
	m.mu.Unlock()
	if err := m.Checkpoint(hws); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, d := range m.dirs {
		if failed[d] || !m.allRecovered(d) {
			continue
		}
		if err := vfs.WriteFileAtomic(m.fs, d.path, cleanShutdownFile, nil); err != nil {
			errs = append(errs, fmt.Errorf("storage: clean-shutdown marker in %s: %w", d.path, err))
		}
	}
	return errors.Join(errs...)
}

// allRecovered reports whether every partition of d is known consistent:
// d was clean at open, or each of its partitions was loaded this run.
func (m *Manager) allRecovered(d *logDir) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d.clean {
		return true
	}
	for tp := range d.parts {
		if m.logs[tp] == nil {
			return false
		}
	}
	return true
}
