package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/s2"
)

var codecs = []struct {
	name  string
	codec int8
}{
	{"none", CompressionNone},
	{"gzip", CompressionGzip},
	{"snappy", CompressionSnappy},
	{"lz4", CompressionLZ4},
	{"zstd", CompressionZstd},
}

func testInputs() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"empty":      {},
		"small":      []byte("hello, fjord"),
		"repetitive": bytes.Repeat([]byte("kafka-compatible log "), 50000),
		"random":     random,
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, c := range codecs {
		for name, in := range testInputs() {
			prefix := []byte("prefix")
			comp, err := Compress(c.codec, append([]byte{}, prefix...), in)
			if err != nil {
				t.Fatalf("%s/%s: compress: %v", c.name, name, err)
			}
			if !bytes.HasPrefix(comp, prefix) {
				t.Fatalf("%s/%s: Compress did not append", c.name, name)
			}
			out, err := Decompress(c.codec, comp[len(prefix):])
			if err != nil {
				t.Fatalf("%s/%s: decompress: %v", c.name, name, err)
			}
			if !bytes.Equal(out, in) {
				t.Fatalf("%s/%s: round trip mismatch (%d vs %d bytes)", c.name, name, len(out), len(in))
			}
		}
	}
}

// xerialFrame builds the Java client's snappy framing by hand: magic,
// version 1, compatible version 1, then length-prefixed raw blocks.
func xerialFrame(chunks ...[]byte) []byte {
	b := append([]byte{}, xerialMagic...)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, 1)
	for _, c := range chunks {
		block := s2.EncodeSnappy(nil, c)
		b = binary.BigEndian.AppendUint32(b, uint32(len(block)))
		b = append(b, block...)
	}
	return b
}

func TestSnappyXerial(t *testing.T) {
	a, b := bytes.Repeat([]byte("a"), 40000), []byte("then b")
	out, err := Decompress(CompressionSnappy, xerialFrame(a, b))
	if err != nil || !bytes.Equal(out, append(append([]byte{}, a...), b...)) {
		t.Fatalf("xerial: %v", err)
	}
	if out, err := Decompress(CompressionSnappy, xerialFrame()); err != nil || len(out) != 0 {
		t.Fatalf("empty xerial: %q %v", out, err)
	}
	bad := map[string][]byte{
		"short header":     xerialMagic,
		"chunk too long":   append(xerialFrame(), 0, 0, 1, 0, 1, 2),
		"truncated length": append(xerialFrame(), 0, 0),
		"bad block":        append(xerialFrame(), 0, 0, 0, 2, 0xff, 0xff),
	}
	for name, in := range bad {
		if _, err := Decompress(CompressionSnappy, in); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The limit applies across chunks.
	if _, err := DecompressTo(nil, CompressionSnappy, xerialFrame(a, a), len(a)+10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("xerial over limit: %v", err)
	}
}

// Zip bombs: output is capped, and a snappy block declaring a huge length is
// refused before anything is allocated.
func TestDecompressLimit(t *testing.T) {
	zeros := make([]byte, 8<<20)
	for _, c := range codecs {
		comp, err := Compress(c.codec, nil, zeros)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecompressTo(nil, c.codec, comp, 1<<20); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", c.name, err)
		}
		if out, err := DecompressTo(nil, c.codec, comp, len(zeros)); err != nil || len(out) != len(zeros) {
			t.Errorf("%s at exactly the limit: %d bytes, %v", c.name, len(out), err)
		}
	}
	claim := binary.AppendUvarint(nil, 1<<32-1)
	var err error
	n := testing.AllocsPerRun(10, func() { _, err = Decompress(CompressionSnappy, append(claim, 0, 0)) })
	if !errors.Is(err, ErrInvalid) || n > 10 {
		t.Fatalf("snappy huge claim: %v after %v allocs", err, n)
	}
}

func TestDecompressGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range codecs[1:] {
		for i := range 200 {
			in := make([]byte, rng.IntN(64))
			for j := range in {
				in[j] = byte(rng.Uint32())
			}
			if i%2 == 0 && len(in) > 4 { // a valid prefix, then garbage
				comp, _ := Compress(c.codec, nil, []byte("some real data here"))
				in = append(comp[:len(comp)/2], in...)
			}
			if _, err := Decompress(c.codec, in); err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("%s: error %v does not wrap ErrInvalid", c.name, err)
			}
		}
	}
	if _, err := Decompress(5, []byte{1}); !errors.Is(err, ErrUnknownCodec) {
		t.Fatalf("codec 5: %v", err)
	}
}

func BenchmarkDecompress(b *testing.B) {
	in := bytes.Repeat([]byte("kafka-compatible log record value "), 30000)
	for _, c := range codecs[1:] {
		comp, _ := Compress(c.codec, nil, in)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decompress(c.codec, comp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
