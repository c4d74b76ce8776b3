package vfs

import (
	"errors"
	"os"
	"time"
)

// Op names an operation Inject may fail.
type Op int

// The operations of an FS and its Files.
const (
	OpOpen      Op = iota // FS.OpenFile, FS.Open
	OpRead                // File.Read, File.ReadAt
	OpWrite               // File.Write, File.WriteAt
	OpSync                // File.Sync
	OpTruncate            // File.Truncate
	OpStat                // FS.Stat, File.Stat
	OpClose               // File.Close (the file is closed even when it fails)
	OpRename              // FS.Rename (path is the old path)
	OpRemove              // FS.Remove
	OpRemoveAll           // FS.RemoveAll
	OpMkdirAll            // FS.MkdirAll
	OpReadDir             // FS.ReadDir
	OpChtimes             // FS.Chtimes
	OpSyncDir             // FS.SyncDir
)

var opNames = [...]string{"open", "read", "write", "sync", "truncate", "stat", "close", "rename", "remove",
	"removeall", "mkdirall", "readdir", "chtimes", "syncdir"}

func (o Op) String() string {
	if o >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return "op?"
}

// ErrInjected is the error tests usually return from an Inject function.
var ErrInjected = errors.New("vfs: injected error")

// Inject wraps fs so that each operation first asks fail(op, path) (path
// as given to the FS call, or the File's Name): a non-nil error is
// returned instead of doing the operation, which then has no effect. fail
// may be called from many goroutines at once. Files opened through the
// result are wrapped too, so OSFile reports false for them.
func Inject(fs FS, fail func(op Op, path string) error) FS {
	return &injectFS{fs: fs, fail: fail}
}

type injectFS struct {
	fs   FS
	fail func(Op, string) error
}

func (i *injectFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := i.fail(OpOpen, name); err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f, err := i.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &injectFile{f: f, fail: i.fail}, nil
}

func (i *injectFS) Open(name string) (File, error) { return i.OpenFile(name, os.O_RDONLY, 0) }

func (i *injectFS) Rename(oldpath, newpath string) error {
	if err := i.fail(OpRename, oldpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return i.fs.Rename(oldpath, newpath)
}

func (i *injectFS) Remove(name string) error {
	return i.do(OpRemove, name, func() error { return i.fs.Remove(name) })
}

func (i *injectFS) RemoveAll(path string) error {
	return i.do(OpRemoveAll, path, func() error { return i.fs.RemoveAll(path) })
}

func (i *injectFS) MkdirAll(path string, perm os.FileMode) error {
	return i.do(OpMkdirAll, path, func() error { return i.fs.MkdirAll(path, perm) })
}

func (i *injectFS) ReadDir(name string) ([]os.DirEntry, error) {
	if err := i.fail(OpReadDir, name); err != nil {
		return nil, &os.PathError{Op: "readdir", Path: name, Err: err}
	}
	return i.fs.ReadDir(name)
}

func (i *injectFS) Stat(name string) (os.FileInfo, error) {
	if err := i.fail(OpStat, name); err != nil {
		return nil, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	return i.fs.Stat(name)
}

func (i *injectFS) Chtimes(name string, atime, mtime time.Time) error {
	return i.do(OpChtimes, name, func() error { return i.fs.Chtimes(name, atime, mtime) })
}

func (i *injectFS) SyncDir(name string) error {
	return i.do(OpSyncDir, name, func() error { return i.fs.SyncDir(name) })
}

func (i *injectFS) do(op Op, path string, f func() error) error {
	if err := i.fail(op, path); err != nil {
		return &os.PathError{Op: op.String(), Path: path, Err: err}
	}
	return f()
}

type injectFile struct {
	f    File
	fail func(Op, string) error
}

func (f *injectFile) check(op Op) error {
	if err := f.fail(op, f.f.Name()); err != nil {
		return &os.PathError{Op: op.String(), Path: f.f.Name(), Err: err}
	}
	return nil
}

func (f *injectFile) Name() string { return f.f.Name() }

func (f *injectFile) Read(b []byte) (int, error) {
	if err := f.check(OpRead); err != nil {
		return 0, err
	}
	return f.f.Read(b)
}

func (f *injectFile) ReadAt(b []byte, off int64) (int, error) {
	if err := f.check(OpRead); err != nil {
		return 0, err
	}
	return f.f.ReadAt(b, off)
}

func (f *injectFile) Write(b []byte) (int, error) {
	if err := f.check(OpWrite); err != nil {
		return 0, err
	}
	return f.f.Write(b)
}

func (f *injectFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.check(OpWrite); err != nil {
		return 0, err
	}
	return f.f.WriteAt(b, off)
}

func (f *injectFile) Seek(offset int64, whence int) (int64, error) { return f.f.Seek(offset, whence) }

func (f *injectFile) Sync() error {
	if err := f.check(OpSync); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *injectFile) Truncate(size int64) error {
	if err := f.check(OpTruncate); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

func (f *injectFile) Stat() (os.FileInfo, error) {
	if err := f.check(OpStat); err != nil {
		return nil, err
	}
	return f.f.Stat()
}

func (f *injectFile) Close() error {
	err := f.check(OpClose)
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	return err
}
