package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultMaxDecompressed bounds what Decompress produces from one batch's
// records section, so a small compressed batch cannot expand into gigabytes
// (a zip bomb). Kafka has no such limit; 64 MiB is 64 times the default
// message.max.bytes.
const DefaultMaxDecompressed = 64 << 20

// Codec errors. Both wrap ErrInvalid, so handlers map them to
// INVALID_RECORD (87) with the other malformed-batch errors.
var (
	ErrUnknownCodec = fmt.Errorf("%w: unknown compression codec", ErrInvalid)
	ErrTooLarge     = fmt.Errorf("%w: decompressed records exceed the size limit", ErrInvalid)
)

// xerialMagic starts snappy data framed by the Java client's snappy-java
// (xerial) stream format: the magic, then version and compatible-version
// int32s, then chunks of [int32 length][raw snappy block].
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// Decompress returns src (a batch's records section) decompressed with the
// codec, at most DefaultMaxDecompressed bytes. The result is newly
// allocated and does not alias src. CompressionNone returns src itself.
func Decompress(codec int8, src []byte) ([]byte, error) {
	if codec == CompressionNone {
		return src, nil
	}
	return DecompressTo(nil, codec, src, DefaultMaxDecompressed)
}

// DecompressTo appends the decompression of src to dst and returns the
// extended slice. More than maxSize decompressed bytes fail with
// ErrTooLarge; malformed input fails with an error wrapping ErrInvalid.
// Snappy accepts both the raw block format (librdkafka, franz-go) and
// xerial framing (the Java client).
func DecompressTo(dst []byte, codec int8, src []byte, maxSize int) ([]byte, error) {
	var err error
	switch codec {
	case CompressionNone:
		if len(src) > maxSize {
			return nil, ErrTooLarge
		}
		return append(dst, src...), nil
	case CompressionGzip:
		dst, err = gunzip(dst, src, maxSize)
	case CompressionSnappy:
		dst, err = unsnappy(dst, src, maxSize)
	case CompressionLZ4:
		dst, err = unlz4(dst, src, maxSize)
	case CompressionZstd:
		dst, err = unzstd(dst, src, maxSize)
	default:
		return nil, fmt.Errorf("%w %d", ErrUnknownCodec, codec)
	}
	if err != nil && !errors.Is(err, ErrInvalid) {
		err = fmt.Errorf("%w: codec %d: %v", ErrInvalid, codec, err)
	}
	return dst, err
}

// readAllLimit appends everything r yields to dst, failing with
// ErrTooLarge past maxSize bytes. It never reads more than maxSize+1 bytes.
func readAllLimit(dst []byte, r io.Reader, maxSize int) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, min(max(cap(dst), 4096), maxSize+1))
		}
		limit := min(cap(dst), start+maxSize+1)
		n, err := r.Read(dst[len(dst):limit])
		dst = dst[:len(dst)+n]
		if len(dst)-start > maxSize {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

var gzipReaders sync.Pool // *gzip.Reader

func gunzip(dst, src []byte, maxSize int) ([]byte, error) {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(src))
	} else {
		err = zr.Reset(bytes.NewReader(src))
	}
	if err != nil {
		return nil, err
	}
	defer gzipReaders.Put(zr)
	return readAllLimit(dst, zr, maxSize)
}

var lz4Readers = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

func unlz4(dst, src []byte, maxSize int) ([]byte, error) {
	zr := lz4Readers.Get().(*lz4.Reader)
	defer lz4Readers.Put(zr)
	zr.Reset(bytes.NewReader(src))
	return readAllLimit(dst, zr, maxSize)
}

// zstdMaxWindow bounds the history a zstd frame may ask the decoder to
// keep; Kafka clients use far smaller windows.
const zstdMaxWindow = 64 << 20

var zstdReaders sync.Pool // *zstd.Decoder, synchronous (concurrency 1)

func unzstd(dst, src []byte, maxSize int) ([]byte, error) {
	zr, _ := zstdReaders.Get().(*zstd.Decoder)
	var err error
	if zr == nil {
		zr, err = zstd.NewReader(bytes.NewReader(src),
			zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow))
	} else {
		err = zr.Reset(bytes.NewReader(src))
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		zr.Reset(nil) // drop the reference to src
		zstdReaders.Put(zr)
	}()
	return readAllLimit(dst, zr, maxSize)
}

// unsnappy decodes a raw snappy block or xerial-framed snappy chunks.
func unsnappy(dst, src []byte, maxSize int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(dst, src, maxSize)
	}
	if len(src) < xerialHeaderSize {
		return nil, fmt.Errorf("%w: truncated xerial header", ErrInvalid)
	}
	start := len(dst)
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, fmt.Errorf("%w: truncated xerial chunk length", ErrInvalid)
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: xerial chunk of %d bytes, %d left", ErrInvalid, n, len(rest))
		}
		var err error
		if dst, err = snappyBlock(dst, rest[:n], maxSize-(len(dst)-start)); err != nil {
			return nil, err
		}
		rest = rest[n:]
	}
	return dst, nil
}

// snappyBlock appends the decoding of one raw snappy block, checking the
// length the block declares against maxSize before allocating.
func snappyBlock(dst, src []byte, maxSize int) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, err
	}
	if n > maxSize {
		return nil, ErrTooLarge
	}
	dst = slices.Grow(dst, n)
	out, err := s2.Decode(dst[len(dst):len(dst)+n], src)
	if err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, fmt.Errorf("%w: snappy block decoded to %d bytes, declared %d", ErrInvalid, len(out), n)
	}
	return dst[:len(dst)+n], nil
}

// Compress appends src compressed with the codec to dst and returns the
// extended slice. Snappy is written in the raw block format (as librdkafka
// and franz-go do; every Kafka client and broker reads it), lz4 as an lz4
// frame, gzip and zstd as standard streams.
func Compress(codec int8, dst, src []byte) ([]byte, error) {
	switch codec {
	case CompressionNone:
		return append(dst, src...), nil
	case CompressionGzip:
		return gzipAppend(dst, src)
	case CompressionSnappy:
		return snappyAppend(dst, src)
	case CompressionLZ4:
		return lz4Append(dst, src)
	case CompressionZstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	default:
		return nil, fmt.Errorf("%w %d", ErrUnknownCodec, codec)
	}
}

// appendWriter is an io.Writer appending to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func gzipAppend(dst, src []byte) ([]byte, error) {
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	out := &appendWriter{b: dst}
	zw.Reset(out)
	if _, err := zw.Write(src); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	zw.Reset(nil)
	return out.b, nil
}

var lz4Writers = sync.Pool{New: func() any {
	zw := lz4.NewWriter(nil)
	// 64 KiB blocks, which every Kafka client's lz4 reader accepts.
	if err := zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
		panic(err) // static options; cannot fail
	}
	return zw
}}

func lz4Append(dst, src []byte) ([]byte, error) {
	zw := lz4Writers.Get().(*lz4.Writer)
	defer lz4Writers.Put(zw)
	out := &appendWriter{b: dst}
	zw.Reset(out)
	if _, err := zw.Write(src); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	zw.Reset(nil)
	return out.b, nil
}

func snappyAppend(dst, src []byte) ([]byte, error) {
	n := s2.MaxEncodedLen(len(src))
	if n < 0 {
		return nil, fmt.Errorf("%w: %d bytes too large for snappy", ErrInvalid, len(src))
	}
	dst = slices.Grow(dst, n)
	out := s2.EncodeSnappy(dst[len(dst):len(dst)+n], src)
	return dst[:len(dst)+len(out)], nil
}

// zstdEncoder returns the shared zstd encoder; EncodeAll is safe for
// concurrent use and starts no goroutines.
var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithWindowSize(1<<20))
	if err != nil {
		panic(err) // static options; cannot fail
	}
	return enc
})
