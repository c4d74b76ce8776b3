package server

import (
	"math/bits"
	"sync"
)

// Frame buffers come from size-class pools: class i holds buffers of
// capacity 1 KiB << i, up to 1 GiB (above socket.request.max.bytes' range
// in practice). Frames up to 1 MiB take a buffer of their class at once.
// A larger frame takes a pooled buffer of its class only if one is free
// (memory the process already holds, reused: no allocation, no clearing);
// otherwise it is read into buffers that grow by class as its bytes arrive
// (conn.readLargeFrame), so a peer must send the bytes before the server
// commits new memory to them, and the final buffer joins the pool when
// the request is done.
const (
	minPooledShift = 10 // 1 KiB
	maxPooledShift = 20 // 1 MiB: taken whole, allocated if the pool is empty
	maxClassShift  = 30 // 1 GiB
	maxPooled      = 1 << maxPooledShift
	// maxEncodeKeep is the largest response-encoding buffer returned to
	// its pool; bigger ones are left to the garbage collector so that one
	// large fetch response does not pin memory.
	maxEncodeKeep = 1 << 20
)

var framePools [maxClassShift - minPooledShift + 1]sync.Pool

// sizeClass returns the pool index for a buffer of n bytes.
func sizeClass(n int) int {
	if n <= 1<<minPooledShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minPooledShift
}

// classCap is the capacity of class c's buffers.
func classCap(c int) int { return 1 << (c + minPooledShift) }

// getFrame returns a buffer of length n (n <= maxPooled) from its pool,
// allocating one when the pool is empty.
func getFrame(n int) *[]byte {
	if p := pooledFrame(n); p != nil {
		return p
	}
	b := make([]byte, n, classCap(sizeClass(n)))
	return &b
}

// pooledFrame returns a free pooled buffer of length n, or nil when its
// class has none.
func pooledFrame(n int) *[]byte {
	c := sizeClass(n)
	if c >= len(framePools) {
		return nil
	}
	p, _ := framePools[c].Get().(*[]byte)
	if p != nil {
		*p = (*p)[:n]
	}
	return p
}

// putFrame returns a frame buffer to its pool. The caller must not use it
// (or anything aliasing it) afterwards.
func putFrame(p *[]byte) {
	c := cap(*p)
	if c < 1<<minPooledShift || c&(c-1) != 0 || sizeClass(c) >= len(framePools) {
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
