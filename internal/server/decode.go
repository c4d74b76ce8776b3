package server

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsKey is the API key of ApiVersions, the one request the server
// answers even at a version the Handler does not support (KIP-511).
const apiVersionsKey = 18

// controlledShutdownKey is the one API whose v0 uses request header v0,
// which has no client id.
const controlledShutdownKey = 7

// minFrameSize is the smallest request frame (after the size prefix) that can
// hold a request header: api key, api version, correlation id and the
// client id's length. (ControlledShutdown v0 has no client id, but its
// body is at least as long.)
const minFrameSize = 2 + 2 + 4 + 2

// Decode errors. Every one of them closes the connection.
var (
	errMalformed  = errors.New("server: malformed request")
	errUnknownKey = errors.New("server: unknown api key")
	errPanic      = errors.New("server: panic while decoding request")
)

// requestHeader is a parsed request header (v1, or v2 for flexible versions).
type requestHeader struct {
	key           int16
	version       int16
	correlationID int32
	// clientID aliases the frame; nil when the client id is null.
	clientID []byte
}

// parseHeader parses the request header at the start of frame. It returns
// the header, an empty kmsg request of the header's key with its version
// set, and the body bytes (aliasing frame) that follow the header.
//
// Unknown keys return errUnknownKey; a header that does not fit in frame
// returns errMalformed. It never allocates from a length in the input.
func parseHeader(frame []byte) (requestHeader, kmsg.Request, []byte, error) {
	var h requestHeader
	if len(frame) < minFrameSize {
		return h, nil, nil, errMalformed
	}
	h.key = int16(binary.BigEndian.Uint16(frame[0:]))
	h.version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.correlationID = int32(binary.BigEndian.Uint32(frame[4:]))
	req := kmsg.RequestForKey(h.key)
	if req == nil {
		return h, nil, nil, fmt.Errorf("%w %d", errUnknownKey, h.key)
	}
	req.SetVersion(h.version)
	if h.key == controlledShutdownKey && h.version == 0 {
		return h, req, frame[8:], nil // header v0: no client id
	}
	rest, clientID, err := readNullableString(frame[8:])
	if err != nil {
		return h, nil, nil, err
	}
	h.clientID = clientID
	if req.IsFlexible() {
		if rest, err = skipTags(rest); err != nil {
			return h, nil, nil, err
		}
	}
	return h, req, rest, nil
}

// readNullableString reads an int16-length-prefixed nullable string.
func readNullableString(b []byte) (rest, s []byte, err error) {
	if len(b) < 2 {
		return nil, nil, errMalformed
	}
	n := int(int16(binary.BigEndian.Uint16(b)))
	b = b[2:]
	if n < 0 {
		return b, nil, nil
	}
	if n > len(b) {
		return nil, nil, errMalformed
	}
	return b[n:], b[:n:n], nil
}

// skipTags skips a tagged-field section (KIP-482): a uvarint count, then
// per field a uvarint tag, a uvarint size and size bytes.
func skipTags(b []byte) ([]byte, error) {
	n, b, err := readUvarint(b)
	if err != nil {
		return nil, err
	}
	for ; n > 0; n-- {
		var size uint64
		if _, b, err = readUvarint(b); err != nil {
			return nil, err
		}
		if size, b, err = readUvarint(b); err != nil {
			return nil, err
		}
		if size > uint64(len(b)) {
			return nil, errMalformed
		}
		b = b[size:]
	}
	return b, nil
}

// readUvarint reads a uvarint of at most 5 bytes (a uint32).
func readUvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || n > 5 || v > 1<<32-1 {
		return 0, nil, errMalformed
	}
	return v, b[n:], nil
}

// decodeBody decodes body into req (whose version is set). Byte-slice fields
// of req alias body. A panic inside the decoder is recovered and returned as
// an error wrapping errPanic: kmsg checks every length against the bytes
// remaining, and this is defense in depth.
func decodeBody(req kmsg.Request, body []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: key %d version %d: %v", errPanic, req.Key(), req.GetVersion(), r)
		}
	}()
	if err := req.ReadFrom(body); err != nil {
		return fmt.Errorf("%w: key %d version %d: %v", errMalformed, req.Key(), req.GetVersion(), err)
	}
	return nil
}

// decodeRequest parses a whole frame: header, then body. It is the decode
// step of the reader without the Supported check, kept whole for fuzzing.
func decodeRequest(frame []byte) (requestHeader, kmsg.Request, error) {
	h, req, body, err := parseHeader(frame)
	if err != nil {
		return h, nil, err
	}
	if err := decodeBody(req, body); err != nil {
		return h, nil, err
	}
	return h, req, nil
}

// DecodeRequest parses one request frame (header and body, without the
// size prefix), as the server does for each request. It is for requests
// that arrive wrapped in other requests (Envelope). The returned body
// may alias frame.
func DecodeRequest(frame []byte) (*Request, error) {
	h, req, err := decodeRequest(frame)
	if err != nil {
		return nil, err
	}
	return &Request{ClientID: string(h.clientID), CorrelationID: h.correlationID, Body: req}, nil
}
