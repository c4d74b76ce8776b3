// Package vfs is the small filesystem interface under storage and quorum
// (DESIGN.md §9): everything those packages do to files goes through an
// FS, so tests can run them on an in-memory filesystem that forgets what
// was never synced (NewStrictMem) or that fails chosen operations
// (Inject), without root and without a real disk. Production code uses
// Default, the operating system's filesystem.
//
// The package imports only the standard library.
package vfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// File is an open file. On Default it is an *os.File (see OSFile). Its
// methods follow *os.File's contracts; a File is safe for concurrent
// ReadAt and WriteAt calls, like *os.File.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Seeker
	io.Closer
	// Sync makes the file's contents durable (fsync). On a directory
	// opened with Open it makes the directory's entries durable.
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Name() string
}

// FS is a filesystem. Paths are the OS's (filepath); every method follows
// the contract of the os function of the same name.
type FS interface {
	// OpenFile opens a file with os.O_* flags (os.OpenFile).
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Open opens a file or directory for reading (os.Open).
	Open(name string) (File, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	RemoveAll(path string) error
	MkdirAll(path string, perm os.FileMode) error
	// ReadDir returns the directory's entries sorted by name.
	ReadDir(name string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
	Chtimes(name string, atime, mtime time.Time) error
	// SyncDir makes the creations, renames and removals of entries in
	// the directory durable (fsync of the directory).
	SyncDir(name string) error
}

// Default is the operating system's filesystem. Its Files are *os.File.
var Default FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a nil File, not a File holding a nil *os.File
	}
	return f, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(path string) error                  { return os.RemoveAll(path) }
func (osFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }
func (osFS) Chtimes(name string, atime, mtime time.Time) error {
	return os.Chtimes(name, atime, mtime)
}

func (fs osFS) SyncDir(name string) error { return SyncFile(fs, name) }

// OSFile returns the *os.File under f when f is one (a File of Default),
// for what only the OS can do with it (sendfile(2)). Files of other
// filesystems, including Default wrapped by Inject, report false: their
// callers fall back to ReadAt.
func OSFile(f File) (*os.File, bool) {
	o, ok := f.(*os.File)
	return o, ok && o != nil
}

// ReadFile reads the whole file (os.ReadFile).
func ReadFile(fs FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// WriteFile writes data to name, creating or truncating it (os.WriteFile).
// Nothing is synced.
func WriteFile(fs FS, name string, data []byte, perm os.FileMode) error {
	f, err := fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncFile opens a file (or directory) and fsyncs it.
func SyncFile(fs FS, name string) error {
	f, err := fs.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// TempSuffix ends the name of the temporary file WriteFileAtomic writes
// before renaming it; leftovers of an interrupted write carry it.
const TempSuffix = ".tmp"

// WriteFileAtomic replaces dir/name with data durably: it writes
// dir/name.tmp, fsyncs it, renames it over dir/name and fsyncs dir. A crash
// at any point leaves either the old file or the new one, never a mix;
// once it returns nil the new one survives a crash. On an error the
// temporary file, once created, is removed and the error returned; the
// target then holds the old or the new contents.
func WriteFileAtomic(fs FS, dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+TempSuffix)
	f, err := fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err // nothing of ours to remove (tmp may be someone else's)
	}
	err = writeSynced(f, data)
	if err == nil {
		err = fs.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		if rerr := fs.Remove(tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
		return err
	}
	return fs.SyncDir(dir)
}

// writeSynced writes data to f, fsyncs it and closes it.
func writeSynced(f File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// MkdirAllSynced is MkdirAll that also makes the new directories durable:
// it fsyncs the parent of each directory it creates, top down, so a crash
// cannot lose a directory (and with it files synced inside it) that it
// returned. Directories that already exist cost one Stat.
func MkdirAllSynced(fs FS, path string, perm os.FileMode) error {
	path = filepath.Clean(path)
	var missing []string
	for p := path; ; p = filepath.Dir(p) {
		if _, err := fs.Stat(p); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fs.MkdirAll(path, perm); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := fs.SyncDir(filepath.Dir(missing[i])); err != nil {
			return err
		}
	}
	return nil
}
