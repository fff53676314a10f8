package control

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// A request the parser accepts is well formed, and encodes back to a
// request that parses to the same thing.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"op":"journalist.add","args":{"name":"a","public":"b"}}`,
		`{"v":1,"op":"journalist.list"}`,
		`{"v":1,"op":"x","args":null}`,
		`{"v":1,"op":"x","args":[1,2,{"a":"\u00e9"}]}`,
		`{"v":1,"op":"x"} `,
		`{"v":1,"op":"x"}x`,
		`{"v":2,"op":"x"}`,
		`{"v":1,"op":"X"}`,
		`{"v":1,"op":"x","v":1}`,
		`{"V":1,"OP":"x"}`,
		"{\"v\":1,\"op\":\"x\xff\"}",
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, perr := parseRequest(line)
		if perr != nil {
			if req != nil || perr.Code != CodeInvalid || perr.Msg == "" {
				t.Fatalf("a refusal with %v, %+v", req, perr)
			}
			return
		}
		if req.V != 1 || !validOp(req.Op) {
			t.Fatalf("accepted a bad request: %+v", req)
		}
		if len(req.Args) > 0 && !json.Valid(req.Args) {
			t.Fatalf("accepted invalid args %q", req.Args)
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		req2, perr := parseRequest(again)
		if perr != nil || req2.Op != req.Op {
			t.Fatalf("%q re-encoded as %q: %+v %v", line, again, req2, perr)
		}
		var compact bytes.Buffer
		if len(req.Args) > 0 {
			json.Compact(&compact, req.Args)
		}
		if !bytes.Equal(req2.Args, compact.Bytes()) && !(len(req2.Args) == 0 && compact.Len() == 0) {
			t.Fatalf("args %q came back as %q", req.Args, req2.Args)
		}
	})
}

// The frame reader never panics, never writes more than it read, and
// succeeds only on input that holds an end mark; a stream the server's
// writer produced reads back exactly, and every cut of it fails.
func FuzzCopyFrames(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x05hello\x00\x00\x00\x00"), uint16(3))
	f.Add([]byte("\xff\xff\xff\xff{\"ok\":false,\"error\":\"e\",\"code\":\"failed\"}\n"), uint16(0))
	f.Add([]byte("\x00\x10\x00\x01"), uint16(1))
	f.Add([]byte("\x00\x00\x00\x03ab"), uint16(7))
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		var out bytes.Buffer
		err := copyFrames(bufio.NewReader(bytes.NewReader(in)), &out)
		if out.Len() > len(in) {
			t.Fatalf("wrote %d bytes from %d", out.Len(), len(in))
		}
		if err == nil && !bytes.Contains(in, []byte{0, 0, 0, 0}) {
			t.Fatalf("%q read as a complete stream", in)
		}
		var ce *Error
		if errors.As(err, &ce) && ce.Code == "" {
			t.Fatalf("an error frame without a code: %+v", ce)
		}

		// The same bytes as a payload, cut into two writes.
		k := int(split) % (len(in) + 1)
		enc := encodeStream([][]byte{in[:k], in[k:]})
		out.Reset()
		if err := copyFrames(bufio.NewReader(bytes.NewReader(enc)), &out); err != nil || !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("payload %q: read back %q, %v", in, out.Bytes(), err)
		}
		cut := int(split) % len(enc)
		err = copyFrames(bufio.NewReader(bytes.NewReader(enc[:cut])), io.Discard)
		if err == nil {
			t.Fatalf("a stream cut at %d of %d bytes read as complete", cut, len(enc))
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "EOF") {
			t.Fatalf("a cut stream gave %v, want an early end", err)
		}
	})
}
