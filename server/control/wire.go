package control

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Limits of the protocol.
const (
	// MaxRequest is the largest request line, its newline included.
	MaxRequest = 1 << 20
	// MaxResponse is the largest answer line, its newline included.
	MaxResponse = 16 << 20
	// MaxFrame is the largest data frame of a stream.
	MaxFrame = 1 << 20

	// errFrame is the length that announces an error line.
	errFrame = 0xFFFFFFFF
	// maxOp is the longest operation name.
	maxOp = 64
	// maxSockPath is the longest socket path: sun_path holds 108 bytes,
	// the terminating NUL included.
	maxSockPath = 107
)

// request is a request line.
type request struct {
	V    int             `json:"v"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

// response is an answer line, and the line after an error frame.
type response struct {
	OK     bool   `json:"ok"`
	Result any    `json:"result,omitempty"`
	Stream bool   `json:"stream,omitempty"`
	Error  string `json:"error,omitempty"`
	Code   string `json:"code,omitempty"`
}

// wireResponse is an answer line as the client reads it.
type wireResponse struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Stream bool            `json:"stream"`
	Error  string          `json:"error"`
	Code   string          `json:"code"`
}

var (
	errLineTooLong = errors.New("line too long")
	errNoNewline   = errors.New("line ended without a newline")
)

// readLine reads one line of at most limit bytes, its newline included,
// and returns it without the newline. It holds at most limit bytes, plus
// r's buffer. It returns io.EOF if the stream ended before any byte,
// errNoNewline if it ended within the line, and errLineTooLong once the
// limit is passed, without reading further.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, errNoNewline
		default:
			return nil, err
		}
	}
}

// parseRequest parses a request line strictly.
func parseRequest(line []byte) (*request, *Error) {
	var req request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, Errorf(CodeInvalid, "control: malformed request")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(CodeInvalid, "control: malformed request (data after the object)")
	}
	if req.V != 1 {
		return nil, Errorf(CodeInvalid, "control: unsupported protocol version %d (this server speaks 1)", req.V)
	}
	if !validOp(req.Op) {
		return nil, Errorf(CodeInvalid, "control: invalid operation name")
	}
	return &req, nil
}

// validOp reports whether op is a well-formed operation name.
func validOp(op string) bool {
	if len(op) == 0 || len(op) > maxOp || op[0] < 'a' || op[0] > 'z' {
		return false
	}
	for i := 0; i < len(op); i++ {
		c := op[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// parseResponse parses an answer line; a failure comes back as *Error.
func parseResponse(line []byte) (*wireResponse, error) {
	var r wireResponse
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, errors.New("malformed answer")
	}
	if !r.OK {
		e := &Error{Code: r.Code, Msg: r.Error}
		if e.Code == "" {
			e.Code = CodeFailed
		}
		return nil, e
	}
	return &r, nil
}

// frameWriter is the io.Writer a stream handler writes to: it cuts what it
// is given into frames, and gives every write a deadline. It is safe for
// concurrent use; frames are never interleaved.
type frameWriter struct {
	c       deadlineWriter
	timeout time.Duration

	mu   sync.Mutex // guards the fields below and serialises writes
	done bool       // the handler returned: no more writes
	err  error      // the first write error: the stream is broken
}

// deadlineWriter is the part of *net.UnixConn a frameWriter uses.
type deadlineWriter interface {
	io.Writer
	SetWriteDeadline(time.Time) error
}

var errStreamDone = errors.New("control: write after the stream operation returned")

func (f *frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return 0, errStreamDone
	}
	if f.err != nil {
		return 0, f.err
	}
	n := 0
	for len(p) > 0 {
		k := min(len(p), MaxFrame)
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(k))
		if err := f.send(hdr[:], p[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// send writes bufs in one writev, within the write timeout. Called with
// f.mu held.
func (f *frameWriter) send(bufs ...[]byte) error {
	f.c.SetWriteDeadline(time.Now().Add(f.timeout))
	b := net.Buffers(bufs)
	if _, err := b.WriteTo(f.c); err != nil {
		f.err = fmt.Errorf("control: sending the stream: %w", err)
		return f.err
	}
	return nil
}

// finish refuses further writes and returns the first write error.
func (f *frameWriter) finish() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = true
	return f.err
}

// end writes the final frame of a complete stream.
func (f *frameWriter) end() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.send([]byte{0, 0, 0, 0})
}

// fail writes an error frame and its line.
func (f *frameWriter) fail(e *Error) error {
	line, err := json.Marshal(response{Error: e.Msg, Code: e.Code})
	if err != nil {
		return err
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], errFrame)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.send(hdr[:], line, []byte{'\n'})
}
