package quorum

// The Raft write-ahead log.
//
// It lives in files named wal-<16 hex digits>.log in RaftConfig.Dir. Only
// the newest file is live: a file is only ever created complete (written
// to a temporary name, fsynced, renamed, directory fsynced), so an older
// one left behind is the remains of an interrupted rewrite and is deleted
// at open. A file is a sequence of records:
//
//	uint32 payload length | uint32 CRC-32C of payload | payload   (big endian)
//
// A payload is a type byte followed by
//
//	recBase:      uint64 index, uint64 term of the snapshot the file starts after
//	              (always the first record, and only there)
//	recEntry:     a marshalled raftpb.Entry
//	recHardState: a marshalled raftpb.HardState
//
// An entry with index i supersedes every earlier entry with index >= i:
// that is Raft truncating a conflicting suffix. Each Ready is one write of
// its entries followed by its hard state, then one fsync when Raft asks
// for it (Ready.MustSync). At open, reading stops at the first torn or
// corrupt record and the file is truncated there: such a record was never
// fsynced, so nothing that depends on it was ever acknowledged.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fjordlog/fjord/internal/vfs"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Record types of the WAL.
const (
	recBase      byte = 1
	recEntry     byte = 2
	recHardState byte = 3
)

// walRecordHeader is a record's length and CRC.
const walRecordHeader = 8

// maxWALRecord bounds one record so a corrupt length cannot make recovery
// allocate without limit. Proposals are bounded well below it.
const maxWALRecord = 64 << 20

// wal is the append side of the write-ahead log. It is used by one
// goroutine at a time (StartRaft, then the Raft loop).
type wal struct {
	fs  vfs.FS
	dir string
	f   vfs.File
	seq uint64           // sequence number of the live file
	hs  raftpb.HardState // last hard state written
	buf []byte
}

// walContents is what a WAL file holds after replaying its records.
type walContents struct {
	baseIndex, baseTerm uint64
	hs                  raftpb.HardState
	ents                []raftpb.Entry // contiguous, first index baseIndex+1
}

func walName(seq uint64) string { return fmt.Sprintf("wal-%016x.log", seq) }

// openWAL opens the newest WAL file in dir (creating an empty one based at
// index 0 if there is none), deletes older files and temporaries, cuts a
// torn or corrupt tail, and returns what the file holds.
func openWAL(fs vfs.FS, dir string) (*wal, walContents, error) {
	seqs, err := listWAL(fs, dir)
	if err != nil {
		return nil, walContents{}, err
	}
	w := &wal{fs: fs, dir: dir}
	if len(seqs) == 0 {
		err := w.rewrite(0, 0, nil)
		return w, walContents{}, err
	}
	w.seq = seqs[len(seqs)-1]
	for _, s := range seqs[:len(seqs)-1] {
		if err := fs.Remove(filepath.Join(dir, walName(s))); err != nil {
			return nil, walContents{}, err
		}
	}
	c, err := w.recover()
	if err != nil {
		return nil, walContents{}, err
	}
	w.hs = c.hs
	return w, c, nil
}

// listWAL returns the sequence numbers of the WAL files in dir, ascending,
// and deletes leftover temporary files.
func listWAL(fs vfs.FS, dir string) ([]uint64, error) {
	names, err := readDirNames(fs, dir)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, n := range names {
		if strings.HasPrefix(n, "wal-") && strings.HasSuffix(n, vfs.TempSuffix) {
			if err := fs.Remove(filepath.Join(dir, n)); err != nil {
				return nil, err
			}
			continue
		}
		var seq uint64
		if _, err := fmt.Sscanf(n, "wal-%016x.log", &seq); err == nil && n == walName(seq) {
			seqs = append(seqs, seq)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

func readDirNames(fs vfs.FS, dir string) ([]string, error) {
	des, err := fs.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(des))
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names, nil
}

// recover reads the live file, truncates its bad tail and leaves it open
// for appending.
func (w *wal) recover() (walContents, error) {
	f, err := w.fs.OpenFile(filepath.Join(w.dir, walName(w.seq)), os.O_RDWR, 0o644)
	if err != nil {
		return walContents{}, err
	}
	c, good, err := readWAL(f)
	if err == nil {
		err = cutTail(f, good)
	}
	if err != nil {
		f.Close()
		return walContents{}, fmt.Errorf("quorum: WAL %s: %w", walName(w.seq), err)
	}
	w.f = f
	return c, nil
}

// readWAL replays the records of f up to the first torn or corrupt one and
// returns the contents and the byte length of the good prefix. An error
// means the good records themselves are inconsistent (not a torn tail):
// the log cannot be trusted and the node must not start.
func readWAL(f vfs.File) (walContents, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return walContents{}, 0, err
	}
	r := bufio.NewReader(f)
	var c walContents
	var good int64
	for {
		payload, ok := readRecord(r)
		if !ok {
			break
		}
		if err := c.add(payload, good == 0); err != nil {
			return c, good, err
		}
		good += walRecordHeader + int64(len(payload))
	}
	if good == 0 {
		return c, 0, errors.New("missing base record")
	}
	return c, good, nil
}

// readRecord reads one record, reporting false at a torn or corrupt one.
func readRecord(r *bufio.Reader) ([]byte, bool) {
	var hdr [walRecordHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, false
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n > maxWALRecord {
		return nil, false
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, false
	}
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
		return nil, false
	}
	return payload, true
}

// add replays one good record.
func (c *walContents) add(payload []byte, first bool) error {
	typ, body := payload[0], payload[1:]
	if first != (typ == recBase) {
		return fmt.Errorf("record type %d at the wrong place", typ)
	}
	switch typ {
	case recBase:
		if len(body) != 16 {
			return errors.New("bad base record")
		}
		c.baseIndex = binary.BigEndian.Uint64(body)
		c.baseTerm = binary.BigEndian.Uint64(body[8:])
		return nil
	case recEntry:
		var e raftpb.Entry
		if err := e.Unmarshal(body); err != nil {
			return err
		}
		return c.addEntry(e)
	case recHardState:
		return c.hs.Unmarshal(body)
	}
	return fmt.Errorf("unknown record type %d", typ)
}

// addEntry appends e, first dropping any entries it supersedes.
func (c *walContents) addEntry(e raftpb.Entry) error {
	next := c.baseIndex + 1 + uint64(len(c.ents))
	switch {
	case e.Index <= c.baseIndex:
		return nil // covered by the snapshot the file starts after
	case e.Index > next:
		return fmt.Errorf("entry %d follows %d", e.Index, next-1)
	}
	c.ents = append(c.ents[:e.Index-c.baseIndex-1], e)
	return nil
}

func cutTail(f vfs.File, good int64) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != good {
		if err := f.Truncate(good); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	_, err = f.Seek(good, io.SeekStart)
	return err
}

// appendRecord frames payload (type byte + body) onto buf.
func appendRecord(buf []byte, typ byte, body []byte) []byte {
	crc := crc32.Update(crc32.Checksum([]byte{typ}, castagnoli), castagnoli, body)
	buf = binary.BigEndian.AppendUint32(buf, uint32(1+len(body)))
	buf = binary.BigEndian.AppendUint32(buf, crc)
	buf = append(buf, typ)
	return append(buf, body...)
}

// encode appends the records for entries and then, if not empty, the hard
// state.
func encode(buf []byte, hs raftpb.HardState, ents []raftpb.Entry) ([]byte, error) {
	for i := range ents {
		b, err := ents[i].Marshal()
		if err != nil {
			return buf, err
		}
		if 1+len(b) > maxWALRecord {
			return buf, fmt.Errorf("quorum: entry %d of %d bytes is too large", ents[i].Index, len(b))
		}
		buf = appendRecord(buf, recEntry, b)
	}
	if raft.IsEmptyHardState(hs) {
		return buf, nil
	}
	b, err := hs.Marshal()
	if err != nil {
		return buf, err
	}
	return appendRecord(buf, recHardState, b), nil
}

// save appends the entries and hard state of one Ready, fsyncing if sync.
// An error leaves the file's tail unknown; the caller must stop.
func (w *wal) save(hs raftpb.HardState, ents []raftpb.Entry, sync bool) error {
	buf, err := encode(w.buf[:0], hs, ents)
	w.buf = buf
	if err != nil || len(buf) == 0 {
		return err
	}
	if _, err := w.f.Write(buf); err != nil {
		return fmt.Errorf("quorum: WAL write: %w", err)
	}
	if sync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("quorum: WAL sync: %w", err)
		}
	}
	if !raft.IsEmptyHardState(hs) {
		w.hs = hs
	}
	return nil
}

// rewrite replaces the live file by a new one holding a base record for
// the snapshot at (index, term), the entries given (which must follow
// index contiguously) and the last hard state. The new file is complete
// and durable before the old one is deleted, so a crash leaves one or the
// other.
func (w *wal) rewrite(index, term uint64, ents []raftpb.Entry) error {
	seq := w.seq + 1
	buf := appendRecord(nil, recBase, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, index), term))
	buf, err := encode(buf, w.hs, ents)
	if err != nil {
		return err
	}
	path := filepath.Join(w.dir, walName(seq))
	if err := vfs.WriteFileAtomic(w.fs, w.dir, walName(seq), buf); err != nil {
		return fmt.Errorf("quorum: WAL rewrite: %w", err)
	}
	f, err := w.fs.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	old := w.f
	w.f, w.seq = f, seq
	if old == nil {
		return nil
	}
	old.Close()
	return w.fs.Remove(filepath.Join(w.dir, walName(seq-1)))
}

func (w *wal) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
