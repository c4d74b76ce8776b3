package vfs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

func mustWrite(t *testing.T, fs FS, name string, data []byte, sync bool) {
	t.Helper()
	f, err := fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// contents returns the file's bytes, or nil when it does not exist.
func contents(t *testing.T, fs FS, name string) []byte {
	t.Helper()
	b, err := ReadFile(fs, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

func TestDefaultFilesAreOSFiles(t *testing.T) {
	dir := t.TempDir()
	f, err := Default.OpenFile(filepath.Join(dir, "a"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if o, ok := OSFile(f); !ok || o.Name() != f.Name() {
		t.Fatalf("OSFile(%T) = %v, %v", f, o, ok)
	}
	if _, ok := OSFile(&injectFile{f: f}); ok {
		t.Fatal("an injecting wrapper reports an *os.File")
	}
	g, err := Default.Open(filepath.Join(dir, "missing"))
	if g != nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(missing) = %#v, %v; want a nil File and ErrNotExist", g, err)
	}
	if err := Default.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
}

// TestWriteFileAtomic runs WriteFileAtomic on both filesystems.
func TestWriteFileAtomic(t *testing.T) {
	for name, c := range map[string]struct {
		fs  FS
		dir string
	}{"os": {Default, t.TempDir()}, "mem": {NewStrictMem(), "/d"}} {
		t.Run(name, func(t *testing.T) {
			if err := c.fs.MkdirAll(c.dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, data := range []string{"first", "second, longer", ""} {
				if err := WriteFileAtomic(c.fs, c.dir, "cp", []byte(data)); err != nil {
					t.Fatal(err)
				}
				if got := contents(t, c.fs, filepath.Join(c.dir, "cp")); string(got) != data {
					t.Fatalf("got %q, want %q", got, data)
				}
			}
			ents, err := c.fs.ReadDir(c.dir)
			if err != nil || len(ents) != 1 || ents[0].Name() != "cp" {
				t.Fatalf("dir holds %v (%v); want only cp", ents, err)
			}
		})
	}
}

// TestStrictMemCrashDropsUnsynced checks each POSIX rule Crash applies.
func TestStrictMemCrashDropsUnsynced(t *testing.T) {
	m := NewStrictMem()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, m, "/d/synced", []byte("durable"), true)
	mustWrite(t, m, "/d/unsynced", []byte("lost"), false)
	mustWrite(t, m, "/d/renamed", []byte("r"), true)
	mustWrite(t, m, "/d/removed", []byte("x"), true)
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	// After the dir sync: a tail written without Sync, a truncate without
	// Sync, a rename, a remove, a new synced file and a new dir, none of
	// them followed by a dir sync.
	f, err := m.OpenFile("/d/synced", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(" tail")); err != nil {
		t.Fatal(err)
	}
	g, _ := m.OpenFile("/d/renamed", os.O_RDWR, 0)
	if err := g.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if err := m.Rename("/d/renamed", "/d/newname"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("/d/removed"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, m, "/d/created", []byte("c"), true)
	if err := m.MkdirAll("/d/sub/deeper", 0o755); err != nil {
		t.Fatal(err)
	}

	c := m.Crash()
	for name, want := range map[string]string{"/d/synced": "durable", "/d/unsynced": "", "/d/renamed": "r", "/d/removed": "x"} {
		if got := contents(t, c, name); string(got) != want {
			t.Errorf("after crash %s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"/d/newname", "/d/created", "/d/sub"} {
		if _, err := c.Stat(name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after crash %s: Stat err %v, want ErrNotExist", name, err)
		}
	}
	// The crashed-from filesystem is untouched and independent.
	if got := contents(t, m, "/d/synced"); string(got) != "durable tail" {
		t.Errorf("original lost its unsynced bytes: %q", got)
	}
	mustWrite(t, c, "/d/synced", []byte("new"), true)
	if got := contents(t, m, "/d/synced"); string(got) != "durable tail" {
		t.Errorf("a write to the crash copy shows in the original: %q", got)
	}
	if _, err := f.Write([]byte("!")); err != nil {
		t.Errorf("the original's open file stopped working: %v", err)
	}
}

func TestStrictMemSyncedNamesSurvive(t *testing.T) {
	m := NewStrictMem()
	if err := m.MkdirAll("/a/b", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/", "/a"} {
		if err := m.SyncDir(d); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(t, m, "/a/b/f", []byte("v1"), true)
	if err := m.Rename("/a/b/f", "/a/g"); err != nil {
		t.Fatal(err)
	}
	// The directory opened with Open and synced, as with the os package.
	d, err := m.Open("/a")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	c := m.Crash()
	if got := contents(t, c, "/a/g"); string(got) != "v1" {
		t.Fatalf("/a/g = %q, want v1", got)
	}
	// /a/b was not synced after f was created there, so f never showed
	// there durably; the rename's source side is /a/b, also not synced.
	if got := contents(t, c, "/a/b/f"); got != nil {
		t.Fatalf("/a/b/f = %q after crash; its creation was never made durable", got)
	}
}

func TestStrictMemFileSemantics(t *testing.T) {
	m := NewStrictMem()
	if _, err := m.OpenFile("/nope/f", os.O_CREATE|os.O_WRONLY, 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("create in a missing dir: %v", err)
	}
	mustWrite(t, m, "/f", []byte("hello"), false)
	if _, err := m.OpenFile("/f", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); !errors.Is(err, os.ErrExist) {
		t.Fatalf("O_EXCL on an existing file: %v", err)
	}
	r, _ := m.Open("/f")
	if _, err := r.Write([]byte("x")); err == nil {
		t.Fatal("write to a read-only file succeeded")
	}
	if _, err := r.Seek(1, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	if string(b) != "ello" {
		t.Fatalf("read after seek = %q", b)
	}
	buf := make([]byte, 10)
	if n, err := r.ReadAt(buf, 3); n != 2 || err != io.EOF {
		t.Fatalf("short ReadAt = %d, %v; want 2, EOF", n, err)
	}
	w, _ := m.OpenFile("/f", os.O_RDWR, 0)
	if _, err := w.WriteAt([]byte("XY"), 7); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, m, "/f"); !bytes.Equal(got, []byte("hello\x00\x00XY")) {
		t.Fatalf("sparse WriteAt: %q", got)
	}
	if st, _ := w.Stat(); st.Size() != 9 || st.Name() != "f" {
		t.Fatalf("Stat = %v %d", st.Name(), st.Size())
	}
	// An open file outlives its name, as on POSIX.
	if err := m.Remove("/f"); err != nil {
		t.Fatal(err)
	}
	if n, err := w.ReadAt(buf[:5], 0); n != 5 || err != nil || string(buf[:5]) != "hello" {
		t.Fatalf("read of an unlinked open file: %q %v", buf[:n], err)
	}
	w.Close()
	if _, err := w.ReadAt(buf, 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := m.MkdirAll("/d/e", 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, m, "/d/e/f", nil, false)
	if err := m.Remove("/d"); err == nil {
		t.Fatal("removed a non-empty directory")
	}
	if err := m.RemoveAll("/d"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := m.ReadDir("/"); len(ents) != 0 {
		t.Fatalf("root holds %v after RemoveAll", ents)
	}
}

// TestWriteFileAtomicCrashAtEveryStep stops the machine after each
// operation of a WriteFileAtomic (every later operation fails, then the
// filesystem crashes): the file is the old or the new one, never a mix
// or missing, and the new one when the call returned nil.
func TestWriteFileAtomicCrashAtEveryStep(t *testing.T) {
	for step := 0; ; step++ {
		m := NewStrictMem()
		if err := m.MkdirAll("/d", 0o755); err != nil {
			t.Fatal(err)
		}
		_ = m.SyncDir("/")
		if err := WriteFileAtomic(m, "/d", "cp", []byte("old contents")); err != nil {
			t.Fatal(err)
		}
		var ops atomic.Int64
		dead := Inject(m, func(Op, string) error {
			if ops.Add(1) > int64(step) {
				return ErrInjected
			}
			return nil
		})
		err := WriteFileAtomic(dead, "/d", "cp", []byte("new"))
		got := string(contents(t, m.Crash(), "/d/cp"))
		if got != "old contents" && got != "new" {
			t.Fatalf("step %d: file is %q after crash", step, got)
		}
		if err == nil && got != "new" {
			t.Fatalf("step %d: WriteFileAtomic returned nil but the crash kept %q", step, got)
		}
		if err != nil && !errors.Is(err, ErrInjected) {
			t.Fatalf("step %d: error %v does not wrap the injected one", step, err)
		}
		if err == nil {
			return // every step was covered
		}
	}
}

func TestInject(t *testing.T) {
	m := NewStrictMem()
	var failWrite, failSyncDir atomic.Bool
	fs := Inject(m, func(op Op, path string) error {
		switch {
		case op == OpWrite && path == "/f" && failWrite.Load():
			return ErrInjected
		case op == OpSyncDir && failSyncDir.Load():
			return ErrInjected
		}
		return nil
	})
	f, err := fs.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	failWrite.Store(true)
	if _, err := f.WriteAt([]byte("b"), 1); !errors.Is(err, ErrInjected) {
		t.Fatalf("WriteAt: %v, want the injected error", err)
	}
	if got := contents(t, m, "/f"); string(got) != "a" {
		t.Fatalf("a failed write changed the file: %q", got)
	}
	failSyncDir.Store(true)
	if err := fs.SyncDir("/"); !errors.Is(err, ErrInjected) {
		t.Fatalf("SyncDir: %v", err)
	}
	if err := WriteFileAtomic(fs, "/", "g", []byte("x")); !errors.Is(err, ErrInjected) {
		t.Fatalf("WriteFileAtomic with a failing dir sync returned %v", err)
	}
	if _, ok := OSFile(f); ok {
		t.Fatal("an injected file reports an *os.File")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// MkdirAllSynced makes the directories it creates survive a crash, and
// costs no fsync when they exist.
func TestMkdirAllSynced(t *testing.T) {
	m := NewStrictMem()
	var syncs atomic.Int32
	fs := Inject(m, func(op Op, _ string) error {
		if op == OpSyncDir {
			syncs.Add(1)
		}
		return nil
	})
	if err := MkdirAllSynced(fs, "/a/b/c", 0o755); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != 3 {
		t.Fatalf("%d directory syncs for three new directories, want 3", n)
	}
	if st, err := m.Crash().Stat("/a/b/c"); err != nil || !st.IsDir() {
		t.Fatalf("after crash: %v, %v", st, err)
	}
	syncs.Store(0)
	if err := MkdirAllSynced(fs, "/a/b/c", 0o755); err != nil || syncs.Load() != 0 {
		t.Fatalf("existing directory: err %v, %d syncs", err, syncs.Load())
	}
	mustWrite(t, m, "/a/file", nil, true)
	if err := MkdirAllSynced(fs, "/a/file/x", 0o755); err == nil {
		t.Fatal("made a directory under a file")
	}
}
