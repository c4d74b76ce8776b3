package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemFS is an in-memory filesystem that keeps, beside what is written,
// what a crash would leave (NewStrictMem): a file's contents as of its last
// Sync, and each directory's entries as of its last SyncDir (or Sync of
// the directory opened with Open). Crash returns the filesystem a
// machine would find after losing power now, under POSIX's rules:
//
//   - bytes written to a file after its last Sync are lost, and a
//     Truncate after it is undone;
//   - an entry created, renamed or removed in a directory (files and
//     subdirectories, including those made by MkdirAll) is lost, or comes
//     back, unless the directory was synced after it.
//
// That is the strictest a real filesystem may be; real ones often keep
// more. Metadata other than names and contents (modification times) is
// kept across a crash. All paths are cleaned and taken relative to "/"
// (a relative path is resolved under "/"). MemFS is safe for concurrent
// use.
type MemFS struct {
	mu   sync.Mutex
	root *memNode
}

// memNode is a file or a directory.
type memNode struct {
	dir     bool
	mode    os.FileMode
	modTime time.Time
	// A file's contents now, and as of its last Sync.
	data, synced []byte
	// A directory's entries now, and as of its last sync.
	entries, durable map[string]*memNode
}

func newDirNode(mode os.FileMode) *memNode {
	return &memNode{dir: true, mode: mode | os.ModeDir, modTime: time.Now(),
		entries: map[string]*memNode{}, durable: map[string]*memNode{}}
}

// NewStrictMem returns an empty MemFS: a durable root directory "/".
func NewStrictMem() *MemFS { return &MemFS{root: newDirNode(0o755)} }

// Crash returns a new MemFS holding only what was durable in m: see
// MemFS. m itself is unchanged and may go on being used by whatever still
// holds it (a process that "died" in a test); nothing done to m later
// shows in the result, nor the other way round.
func (m *MemFS) Crash() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &MemFS{root: crashCopy(m.root, map[*memNode]*memNode{})}
}

// crashCopy copies the durable state of n (and what it reaches). A node
// reached twice (a file renamed between directories) is copied once.
func crashCopy(n *memNode, seen map[*memNode]*memNode) *memNode {
	if c, ok := seen[n]; ok {
		return c
	}
	c := &memNode{dir: n.dir, mode: n.mode, modTime: n.modTime}
	seen[n] = c
	if !n.dir {
		c.data, c.synced = slices.Clone(n.synced), slices.Clone(n.synced)
		return c
	}
	c.entries, c.durable = map[string]*memNode{}, map[string]*memNode{}
	for name, child := range n.durable {
		cc := crashCopy(child, seen)
		c.entries[name], c.durable[name] = cc, cc
	}
	return c
}

// split cleans name into its path components below the root.
func split(name string) []string {
	p := filepath.ToSlash(filepath.Clean("/" + name))
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

func pathErr(op, name string, err error) error { return &os.PathError{Op: op, Path: name, Err: err} }

// lookup returns the node at name; mu must be held.
func (m *MemFS) lookup(op, name string) (*memNode, error) {
	n := m.root
	for _, c := range split(name) {
		if !n.dir {
			return nil, pathErr(op, name, errors.New("not a directory"))
		}
		next, ok := n.entries[c]
		if !ok {
			return nil, pathErr(op, name, fs.ErrNotExist)
		}
		n = next
	}
	return n, nil
}

// parent returns the directory holding name and name's last component;
// mu must be held.
func (m *MemFS) parent(op, name string) (*memNode, string, error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", pathErr(op, name, fs.ErrInvalid)
	}
	dir, err := m.lookup(op, strings.Join(parts[:len(parts)-1], "/"))
	if err != nil {
		return nil, "", err
	}
	if !dir.dir {
		return nil, "", pathErr(op, name, errors.New("not a directory"))
	}
	return dir, parts[len(parts)-1], nil
}

// OpenFile implements FS: O_CREATE, O_EXCL, O_TRUNC, O_APPEND and the
// access modes are honoured.
func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("open", name)
	if err != nil {
		return nil, err
	}
	n, ok := dir.entries[base]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, pathErr("open", name, fs.ErrExist)
	case !ok && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, fs.ErrNotExist)
	case !ok:
		n = &memNode{mode: perm, modTime: time.Now()}
		dir.entries[base] = n
	case n.dir && flag&(os.O_WRONLY|os.O_RDWR) != 0:
		return nil, pathErr("open", name, errors.New("is a directory"))
	}
	if flag&os.O_TRUNC != 0 && !n.dir {
		n.data, n.modTime = nil, time.Now()
	}
	return &memFile{fs: m, n: n, name: name, flag: flag}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) { return m.OpenFile(name, os.O_RDONLY, 0) }

// Rename implements FS. Renaming a directory over an existing entry is
// refused, as is a rename into the renamed directory itself.
func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	from, fbase, err := m.parent("rename", oldpath)
	if err != nil {
		return err
	}
	n, ok := from.entries[fbase]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	to, tbase, err := m.parent("rename", newpath)
	if err != nil {
		return err
	}
	if old, ok := to.entries[tbase]; ok && (n.dir || old.dir) && old != n {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	}
	if n.dir && strings.HasPrefix(filepath.Clean(newpath)+"/", filepath.Clean(oldpath)+"/") {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrInvalid}
	}
	delete(from.entries, fbase)
	to.entries[tbase] = n
	return nil
}

// Remove implements FS: a file, or an empty directory.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("remove", name)
	if err != nil {
		return err
	}
	n, ok := dir.entries[base]
	if !ok {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	if n.dir && len(n.entries) > 0 {
		return pathErr("remove", name, errors.New("directory not empty"))
	}
	delete(dir.entries, base)
	return nil
}

// RemoveAll implements FS. Like os.RemoveAll it unlinks what the tree
// holds, each removal durable only once its directory is synced; a crash
// before the parent's sync brings the whole tree back.
func (m *MemFS) RemoveAll(path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("removeall", path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if n, ok := dir.entries[base]; ok {
		clearTree(n)
		delete(dir.entries, base)
	}
	return nil
}

func clearTree(n *memNode) {
	if !n.dir {
		return
	}
	for name, c := range n.entries {
		clearTree(c)
		delete(n.entries, name)
	}
}

// MkdirAll implements FS. Each directory it makes is an entry of its
// parent, durable once the parent is synced.
func (m *MemFS) MkdirAll(path string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, c := range split(path) {
		next, ok := n.entries[c]
		switch {
		case !ok:
			next = newDirNode(perm)
			n.entries[c] = next
		case !next.dir:
			return pathErr("mkdir", path, errors.New("not a directory"))
		}
		n = next
	}
	return nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(name string) ([]os.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, pathErr("readdir", name, errors.New("not a directory"))
	}
	out := make([]os.DirEntry, 0, len(n.entries))
	for base, c := range n.entries {
		out = append(out, fs.FileInfoToDirEntry(c.info(base)))
	}
	slices.SortFunc(out, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return n.info(filepath.Base(name)), nil
}

// Chtimes implements FS (only the modification time is kept).
func (m *MemFS) Chtimes(name string, _, mtime time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("chtimes", name)
	if err != nil {
		return err
	}
	n.modTime = mtime
	return nil
}

// SyncDir implements FS.
func (m *MemFS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("sync", name)
	if err != nil {
		return err
	}
	if !n.dir {
		return pathErr("sync", name, errors.New("not a directory"))
	}
	n.syncEntries()
	return nil
}

func (n *memNode) syncEntries() {
	clear(n.durable)
	for k, v := range n.entries {
		n.durable[k] = v
	}
}

func (n *memNode) info(name string) os.FileInfo {
	return memInfo{name: name, size: int64(len(n.data)), mode: n.mode, modTime: n.modTime}
}

type memInfo struct {
	name    string
	size    int64
	mode    os.FileMode
	modTime time.Time
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() os.FileMode  { return i.mode }
func (i memInfo) ModTime() time.Time { return i.modTime }
func (i memInfo) IsDir() bool        { return i.mode.IsDir() }
func (i memInfo) Sys() any           { return nil }

// memFile is an open MemFS file. The node stays readable and writable
// after its name is removed, as an open file does on POSIX.
type memFile struct {
	fs     *MemFS
	n      *memNode
	name   string
	flag   int
	pos    int64 // for Read, Write and Seek
	closed bool
}

func (f *memFile) check(op string, write bool) error {
	switch {
	case f.closed:
		return pathErr(op, f.name, os.ErrClosed)
	case f.n.dir && op != "sync" && op != "stat":
		return pathErr(op, f.name, errors.New("is a directory"))
	case write && f.flag&(os.O_WRONLY|os.O_RDWR) == 0:
		return pathErr(op, f.name, errors.New("bad file descriptor"))
	case !write && op == "read" && f.flag&os.O_WRONLY != 0:
		return pathErr(op, f.name, errors.New("bad file descriptor"))
	}
	return nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) ReadAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("readat", f.name, fs.ErrInvalid)
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(b, f.n.data[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Read(b []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if f.pos >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(b, f.n.data[f.pos:])
	f.pos += int64(n)
	return n, nil
}

func (f *memFile) WriteAt(b []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if f.flag&os.O_APPEND != 0 {
		return 0, pathErr("writeat", f.name, errors.New("invalid use of WriteAt on file opened with O_APPEND"))
	}
	f.writeLocked(b, off)
	return len(b), nil
}

func (f *memFile) Write(b []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if f.flag&os.O_APPEND != 0 {
		f.pos = int64(len(f.n.data))
	}
	f.writeLocked(b, f.pos)
	f.pos += int64(len(b))
	return len(b), nil
}

func (f *memFile) writeLocked(b []byte, off int64) {
	if end := off + int64(len(b)); end > int64(len(f.n.data)) {
		f.n.data = append(f.n.data, make([]byte, end-int64(len(f.n.data)))...)
	}
	copy(f.n.data[off:], b)
	f.n.modTime = time.Now()
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, pathErr("seek", f.name, os.ErrClosed)
	}
	switch whence {
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += int64(len(f.n.data))
	}
	if offset < 0 {
		return 0, pathErr("seek", f.name, fs.ErrInvalid)
	}
	f.pos = offset
	return offset, nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, fs.ErrInvalid)
	}
	if size <= int64(len(f.n.data)) {
		f.n.data = f.n.data[:size]
	} else {
		f.n.data = append(f.n.data, make([]byte, size-int64(len(f.n.data)))...)
	}
	f.n.modTime = time.Now()
	return nil
}

// Sync makes the file's contents durable; on a directory, its entries.
func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync", false); err != nil {
		return err
	}
	if f.n.dir {
		f.n.syncEntries()
		return nil
	}
	f.n.synced = slices.Clone(f.n.data)
	return nil
}

func (f *memFile) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat", false); err != nil {
		return nil, err
	}
	return f.n.info(filepath.Base(f.name)), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	return nil
}
