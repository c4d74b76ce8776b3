// Package fakeclock is a settable clock for deterministic tests: the
// state machines take their time from an injected clock (DESIGN.md §3),
// and a test moves it with Advance instead of sleeping.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a clock that moves only when told. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock reading t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Ms returns the clock's time in Unix milliseconds.
func (c *Clock) Ms() int64 { return c.Now().UnixMilli() }
