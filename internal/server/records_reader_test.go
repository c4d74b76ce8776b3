package server

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// readerOnly hides everything of a file but ReadAt, like a segment file on
// an in-memory filesystem: no descriptor to sendfile from.
type readerOnly struct{ io.ReaderAt }

// Records in a file that is not an *os.File go out by copies on a plain
// connection too (the sendfile path needs a descriptor), byte-identical.
func TestFetchResponseFromNonOSFile(t *testing.T) {
	f, _ := recordsFile(t, 200<<10)
	h := &fakeHandler{handle: func(_ context.Context, req *Request) Reply {
		r := fileFetch(f, req.Body.GetVersion())
		for i := range r.Files {
			r.Files[i].File = readerOnly{f}
		}
		return Reply{Response: r}
	}}
	_, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	for corr, v := range []int16{4, 13} {
		req := kmsg.NewPtrFetchRequest()
		req.Version = v
		c.send(int32(corr), req)
		gotCorr, resp := c.recv(req, v)
		if gotCorr != int32(corr) || !bytes.Equal(resp.AppendTo(nil), expectedFetch(t, f, v).AppendTo(nil)) {
			t.Fatalf("v%d: response differs from kmsg's encoding of the same records", v)
		}
	}
}
