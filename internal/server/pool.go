package server

import (
	"math/bits"
	"sync"
)

// Frame buffers come from size-class pools: class i holds buffers of
// capacity minPooled<<i. Frames above maxPooled are not pooled; they are read
// into a buffer that grows as bytes arrive (see conn.readBody), so a peer
// must send the bytes before the server holds the memory.
const (
	minPooledShift = 10 // 1 KiB
	maxPooledShift = 20 // 1 MiB
	maxPooled      = 1 << maxPooledShift
	// maxEncodeKeep is the largest response-encoding buffer returned to
	// its pool; bigger ones are left to the garbage collector so that one
	// large fetch response does not pin memory.
	maxEncodeKeep = 1 << 20
)

var framePools [maxPooledShift - minPooledShift + 1]sync.Pool

// sizeClass returns the pool index for a buffer of n bytes (n <= maxPooled).
func sizeClass(n int) int {
	if n <= 1<<minPooledShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minPooledShift
}

// getFrame returns a buffer of length n, from a pool when n <= maxPooled.
func getFrame(n int) *[]byte {
	if n > maxPooled {
		b := make([]byte, n)
		return &b
	}
	c := sizeClass(n)
	if p, ok := framePools[c].Get().(*[]byte); ok {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, 1<<(c+minPooledShift))
	return &b
}

// putFrame returns a frame buffer to its pool. The caller must not use it
// (or anything aliasing it) afterwards.
func putFrame(p *[]byte) {
	c := cap(*p)
	if c > maxPooled || c < 1<<minPooledShift || c&(c-1) != 0 {
		return
	}
	framePools[sizeClass(c)].Put(p)
}

var encodePool = sync.Pool{New: func() any {
	b := make([]byte, 0, 4096)
	return &b
}}

func getEncodeBuf() *[]byte { return encodePool.Get().(*[]byte) }

func putEncodeBuf(p *[]byte) {
	if cap(*p) > maxEncodeKeep {
		return
	}
	*p = (*p)[:0]
	encodePool.Put(p)
}
