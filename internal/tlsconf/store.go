package tlsconf

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// statInterval bounds how often a reloader looks at its file.
const statInterval = time.Second

// reloader serves a value parsed from material and, when the material is
// one file, re-reads it when the file's identity, modification time or
// size changes, looking at most once per statInterval. A reload that
// fails keeps the previous value and is reported to onError: a file that
// does not parse once per change of it, a file that cannot be read at
// every look. get is safe for concurrent use; onError is called
// from the goroutine of the handshake that noticed the change, without
// any lock held.
type reloader[T any] struct {
	m       material
	parse   func([]byte) (T, error)
	now     func() time.Time
	onError func(error)

	mu      sync.Mutex
	val     T
	stat    os.FileInfo // of the file as last read; nil for inline material
	checked time.Time
}

// newReloader loads m once; an error here fails the caller's setup.
func newReloader[T any](m material, parse func([]byte) (T, error), now func() time.Time, onError func(error)) (*reloader[T], error) {
	r := &reloader[T]{m: m, parse: parse, now: now, onError: onError}
	if len(m.paths) == 1 {
		fi, err := os.Stat(m.paths[0])
		if err != nil {
			return nil, fmt.Errorf("tlsconf: %s: %w", m.what, err)
		}
		r.stat, r.checked = fi, now()
	}
	v, err := load(m, parse)
	if err != nil {
		return nil, err
	}
	r.val = v
	return r, nil
}

// get returns the current value, reloading it first when due.
func (r *reloader[T]) get() T {
	r.mu.Lock()
	err := r.refreshLocked()
	v := r.val
	r.mu.Unlock()
	if err != nil && r.onError != nil {
		r.onError(err)
	}
	return v
}

func (r *reloader[T]) refreshLocked() error {
	if r.stat == nil {
		return nil
	}
	now := r.now()
	if now.Sub(r.checked) < statInterval {
		return nil
	}
	r.checked = now
	fi, err := os.Stat(r.m.paths[0])
	if err != nil {
		return fmt.Errorf("tlsconf: %s: keeping the previous certificates: %w", r.m.what, err)
	}
	if !changed(r.stat, fi) {
		return nil
	}
	r.stat = fi
	v, err := load(r.m, r.parse)
	if err != nil {
		return fmt.Errorf("keeping the previous certificates: %w", err)
	}
	r.val = v
	return nil
}

func changed(old, cur os.FileInfo) bool {
	return !os.SameFile(old, cur) || !old.ModTime().Equal(cur.ModTime()) || old.Size() != cur.Size()
}
