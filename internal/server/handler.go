package server

import (
	"context"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request is one decoded request as the server hands it to a Handler.
type Request struct {
	// ClientID is the client id from the request header (may be empty).
	ClientID string
	// CorrelationID is echoed in the response header by the server.
	CorrelationID int32
	// Body is the decoded request; Body.GetVersion() is the request version.
	//
	// Ownership: strings in Body are copies, but byte-slice fields (Produce
	// records, SASL auth bytes, ...) alias the server's frame buffer, which
	// is reused for another request as soon as Handle returns. A Handler
	// that keeps such bytes past its return (for example to append them
	// from another goroutine) must copy them first.
	Body kmsg.Request
	// Remote is the client's address.
	Remote net.Addr
	// Listener is the name of the listener the request arrived on
	// (e.g. "PLAINTEXT", "CONTROLLER").
	Listener string
	// Session is the connection's security state: its principal and, for
	// the SASL APIs, the authentication in progress. Never nil for
	// requests the server hands over (tests may leave it nil).
	Session *Session
}

// Reply is a Handler's answer to one Request. At most one of Response,
// Wait and Later is set; when none is, no response is written (acks=0
// produce).
type Reply struct {
	// Response is written at once (in request order). Its version must
	// equal the request's.
	Response kmsg.Response
	// Wait delivers the response later (acks=all produce, fetch long poll).
	// The server's writer blocks on it in request order, so responses stay
	// ordered while the connection goes on reading and handling requests.
	// The Handler must send exactly one value, or close the channel to
	// close the connection. A nil value sent means "no response".
	Wait <-chan kmsg.Response
	// Later computes the response when its turn comes: the server's
	// writer calls it, in request order, after writing the responses
	// before it. It may block (a fetch long poll, an acks=all produce
	// waiting for its high watermark) and must return soon after the
	// context given to Handle is done; nil means "no response". Later
	// requests are read and handled meanwhile, so it must not touch
	// their state without its own locking. Against a goroutine sending
	// on Wait it saves one goroutine hand-off per response, which is a
	// good part of a replication round trip's latency.
	Later func() kmsg.Response
	// Close closes the connection after the responses before this one
	// (and this one's, if any) are written.
	Close bool
	// Throttle mutes the connection (serves none of its further requests)
	// for this long from now: a quota's throttle known when the request is
	// handled (a produce's bytes), so that requests the client pipelined
	// behind it wait too, and the only one for a reply without a response
	// (an acks=0 produce). A response's own throttle time
	// (kmsg.ThrottleResponse) mutes again once it is written, or delays it
	// for versions before KIP-219 (throttle.go).
	Throttle time.Duration
}

// Handler serves decoded requests.
//
// Supported and Handle are called from connection goroutines, concurrently
// across connections but one request at a time per connection, in arrival
// order: a Handler's side effects for one connection are applied in the
// order the client sent the requests.
type Handler interface {
	// Supported reports whether the API key is implemented at this version.
	// The server closes the connection on an unsupported key or version,
	// except for ApiVersions, which it answers itself as v0 with
	// UNSUPPORTED_VERSION (KIP-511) after asking Handle for the key list.
	Supported(key, version int16) bool
	// Handle serves one request. ctx is cancelled when the connection
	// closes or the server shuts down.
	Handle(ctx context.Context, req *Request) Reply
}
