package server

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// writeLoop writes queued replies in order until a closing reply, a write
// error or shutdown. It flushes only before it would block, so responses
// that are ready together go out in one write.
func (c *conn) writeLoop() {
	defer c.shutdown()
	for {
		p, ok := c.next()
		if !ok {
			return
		}
		resp, closeAfter, ok := c.await(p)
		if !ok {
			return
		}
		if resp != nil && !c.delayThrottled(resp) {
			return
		}
		if resp != nil {
			if err := c.writeResponse(p, resp); err != nil {
				c.log.Debug("write failed", "err", err)
				return
			}
		}
		c.muteAfter(resp)
		c.inFlight.Add(-1)
		c.touch()
		if p.reply.Close || closeAfter {
			c.bw.Flush()
			return
		}
	}
}

// next returns the next queued reply, flushing buffered responses first if
// it has to wait. ok is false on shutdown or flush failure.
func (c *conn) next() (pending, bool) {
	select {
	case p := <-c.queue:
		return p, true
	default:
	}
	if c.bw.Flush() != nil {
		return pending{}, false
	}
	select {
	case p := <-c.queue:
		return p, true
	case <-c.ctx.Done():
		return pending{}, false
	}
}

// await returns p's response, running Reply.Later or waiting on
// Reply.Wait if set (flushing first if it is not ready). closeAfter is
// true when the Handler closed the Wait channel; ok is false on shutdown
// or flush failure.
func (c *conn) await(p pending) (resp kmsg.Response, closeAfter, ok bool) {
	if p.reply.Later != nil {
		return c.later(p)
	}
	if p.reply.Wait == nil {
		return p.reply.Response, false, true
	}
	select {
	case r, open := <-p.reply.Wait:
		return r, !open, true
	default:
	}
	if c.bw.Flush() != nil {
		return nil, false, false
	}
	select {
	case r, open := <-p.reply.Wait:
		return r, !open, true
	case <-c.ctx.Done():
		return nil, false, false
	}
}

// later runs p's Later, flushing the responses buffered before it first
// since it may block. ok is false on shutdown or flush failure.
func (c *conn) later(p pending) (resp kmsg.Response, closeAfter, ok bool) {
	if c.bw.Buffered() > 0 && c.bw.Flush() != nil {
		return nil, false, false
	}
	resp = p.reply.Later()
	return resp, false, c.ctx.Err() == nil
}

// writeResponse encodes resp (size, correlation id, header tags for
// flexible responses except ApiVersions, body) into the write buffer;
// a FetchResponse's file-backed records follow their encoded parts.
func (c *conn) writeResponse(p pending, resp kmsg.Response) error {
	if p.rawToken {
		return c.writeRawToken(resp)
	}
	if err := c.checkResponse(p, resp); err != nil {
		c.log.Error("handler returned a bad response; closing connection", "err", err)
		return err
	}
	if fr, ok := resp.(*FetchResponse); ok && len(fr.Files) > 0 {
		return c.writeFetch(p, fr)
	}
	buf := getEncodeBuf()
	defer putEncodeBuf(buf)
	_, err := c.bw.Write(c.encode(p, resp, buf))
	return err
}

// encode encodes resp with its frame size and response header into buf,
// sized up front from responseSizeHint, and returns the bytes.
func (c *conn) encode(p pending, resp kmsg.Response, buf *[]byte) []byte {
	if need := responseSizeHint(resp) + responseHeaderMax; need > cap(*buf) {
		*buf = make([]byte, 0, need)
	}
	b := append((*buf)[:0], 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(p.correlationID))
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		b = append(b, 0) // response header v1: empty tagged fields
	}
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	*buf = b
	return b
}

// checkResponse enforces the Reply contract: the response answers the
// request's key at the request's version. For the KIP-511 answer it turns
// the Handler's ApiVersions v0 response into the UNSUPPORTED_VERSION one.
func (c *conn) checkResponse(p pending, resp kmsg.Response) error {
	if resp.Key() != p.key {
		return fmt.Errorf("response key %d for request key %d", resp.Key(), p.key)
	}
	if p.unsupportedApiVersions {
		av, ok := resp.(*kmsg.ApiVersionsResponse)
		if !ok {
			return fmt.Errorf("ApiVersions response of type %T", resp)
		}
		av.ErrorCode = kerr.UnsupportedVersion.Code
	}
	if resp.GetVersion() != p.version {
		return fmt.Errorf("response version %d for key %d request version %d", resp.GetVersion(), p.key, p.version)
	}
	return nil
}

// errRawTokenFailed closes a connection whose bare-token SASL exchange
// failed: without Kafka framing there is no way to send an error code.
var errRawTokenFailed = errors.New("server: SASL authentication failed")

// writeRawToken writes a SaslAuthenticate response to a bare token as a
// bare size-prefixed token, or fails when it carries an error.
func (c *conn) writeRawToken(resp kmsg.Response) error {
	r, ok := resp.(*kmsg.SASLAuthenticateResponse)
	if !ok || r.ErrorCode != 0 {
		return errRawTokenFailed
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(len(r.SASLAuthBytes)))
	_, err := c.bw.Write(append(b, r.SASLAuthBytes...))
	return err
}
