package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fjordlog/fjord/internal/vfs"
)

// checkpointVersion is the version line of every checkpoint file.
const checkpointVersion = 0

// readCheckpointLines reads a checkpoint file: a version line (0), a count
// line, then count lines of fields fields each. A missing file yields no
// lines and no error.
func readCheckpointLines(fs vfs.FS, path string, fields int) ([][]string, error) {
	data, err := vfs.ReadFile(fs, path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines, err := parseCheckpoint(data, fields)
	if err != nil {
		return nil, fmt.Errorf("storage: checkpoint %s: %w", path, err)
	}
	return lines, nil
}

func parseCheckpoint(data []byte, fields int) ([][]string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	header := make([]int, 2)
	for i := range header {
		if !sc.Scan() {
			return nil, errors.New("missing header line")
		}
		v, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
		if err != nil {
			return nil, err
		}
		header[i] = v
	}
	if header[0] != checkpointVersion {
		return nil, fmt.Errorf("unsupported version %d", header[0])
	}
	var out [][]string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != fields {
			return nil, fmt.Errorf("malformed line %q", sc.Text())
		}
		out = append(out, f)
	}
	if len(out) != header[1] {
		return nil, fmt.Errorf("expected %d entries, found %d", header[1], len(out))
	}
	return out, sc.Err()
}

// formatCheckpoint renders lines in the checkpoint format.
func formatCheckpoint(lines []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(lines))
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// readOffsetCheckpoint reads a per-log-dir "<topic> <partition> <offset>"
// checkpoint.
func readOffsetCheckpoint(fs vfs.FS, path string) (map[TopicPartition]int64, error) {
	lines, err := readCheckpointLines(fs, path, 3)
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]int64, len(lines))
	for _, f := range lines {
		p, perr := strconv.ParseInt(f[1], 10, 32)
		off, oerr := strconv.ParseInt(f[2], 10, 64)
		if perr != nil || oerr != nil {
			return nil, fmt.Errorf("storage: checkpoint %s: malformed line %q", path, strings.Join(f, " "))
		}
		out[TopicPartition{Topic: f[0], Partition: int32(p)}] = off
	}
	return out, nil
}

// writeOffsetCheckpoint atomically writes a per-log-dir offset checkpoint.
func writeOffsetCheckpoint(fs vfs.FS, dir, name string, offsets map[TopicPartition]int64) error {
	return vfs.WriteFileAtomic(fs, dir, name, formatOffsets(offsets))
}

// formatOffsets renders a per-log-dir offset checkpoint, its lines
// sorted: stable output for operators and diffs, and equal contents for
// equal offsets (see checkpointCache).
func formatOffsets(offsets map[TopicPartition]int64) []byte {
	lines := make([]string, 0, len(offsets))
	for tp, off := range offsets {
		lines = append(lines, fmt.Sprintf("%s %d %d", tp.Topic, tp.Partition, off))
	}
	slices.Sort(lines)
	return formatCheckpoint(lines)
}

// checkpointCache remembers the contents last written to each checkpoint
// file, so a periodic checkpoint rewrites (and fsyncs) only the files whose
// contents changed: each fsync of a small file forces a journal commit on
// ext4 that can stall the appends of every log on the file system. Its
// owner serializes access (Manager.checkpointMu).
type checkpointCache map[string]string

// write writes offsets to dir/name unless the file already holds them
// from an earlier write through this cache.
func (c checkpointCache) write(fs vfs.FS, dir, name string, offsets map[TopicPartition]int64) error {
	data := formatOffsets(offsets)
	path := filepath.Join(dir, name)
	if last, ok := c[path]; ok && last == string(data) {
		return nil
	}
	delete(c, path) // a failed write leaves the file's contents unknown
	if err := vfs.WriteFileAtomic(fs, dir, name, data); err != nil {
		return err
	}
	c[path] = string(data)
	return nil
}
