package broker

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// A node that has not been unfenced yet (here: no controller quorum, its
// peer voter never starts) accepts client connections but answers nothing,
// as a Kafka broker before its initial metadata catch-up: it must not
// serve the image it replayed from its own log as current.
func TestClientsServedOnlyOnceUnfenced(t *testing.T) {
	ctl, peer := freeAddr(t), freeAddr(t)
	n := startNode(t, map[string]string{
		"node.id":                   "1",
		"process.roles":             "broker,controller",
		"listeners":                 "PLAINTEXT://127.0.0.1:0,CONTROLLER://" + ctl,
		"controller.listener.names": "CONTROLLER",
		"controller.quorum.voters":  "1@" + ctl + ",2@" + peer,
	})
	c := n.dial(t)
	c.send(kmsg.NewPtrApiVersionsRequest())
	c.nc.SetReadDeadline(time.Now().Add(time.Second))
	if b, err := c.readFrame(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a fenced node answered a client: %d bytes, %v", len(b), err)
	}
}
