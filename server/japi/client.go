package japi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"sandyq/crypto/reqsign"
	"sandyq/crypto/sign"
)

// Client calls the journalist API with signed requests. It is what
// `sandyq fetch` and `sandyq push` use on the journalist's online
// workstation; the HTTP client decides how the server is reached (tor).
type Client struct {
	Base string       // "http://<onion>" or a loopback URL in development
	HTTP *http.Client // nil: http.DefaultClient
	Key  *sign.PrivateKey
	Rand io.Reader        // nonces
	Now  func() time.Time // nil: time.Now
}

// Error is an error answer of the server: its status and message.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("server answered %d: %s", e.Status, e.Msg)
}

// maxErrorBody caps what is read of an error answer.
const maxErrorBody = 4096

func (c *Client) do(ctx context.Context, method, target string, body io.Reader, length int64) (*http.Response, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	h, err := reqsign.Sign(c.Key, reqsign.Request{Method: method, Target: target, Time: now().Unix(), Length: length}, c.Rand)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+target, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = length
	if length == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set(reqsign.Header, h)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return nil, &Error{Status: resp.StatusCode, Msg: sanitize(e.Error)}
	}
	return resp, nil
}

// sanitize keeps printable ASCII of a server's message: a hostile server
// must not reach the terminal with escape sequences.
func sanitize(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 300; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}

// BundleInfo describes a fetched bundle.
type BundleInfo struct {
	Empty bool   // nothing newer: no bundle was written
	UpTo  uint64 // the cursor to acknowledge once the bundle is safe
	More  bool   // the server has more items: fetch again
	Size  int64  // bytes written
}

// Bundle fetches the next submissions bundle into w: after the given
// cursor, or (nil) after the journalist's acknowledged cursor. progress,
// if not nil, sees every byte written.
func (c *Client) Bundle(ctx context.Context, after *uint64, w io.Writer, progress func(total int64) io.Writer) (*BundleInfo, error) {
	target := "/v1/bundle"
	if after != nil {
		target += "?after=" + strconv.FormatUint(*after, 10)
	}
	resp, err := c.do(ctx, http.MethodGet, target, nil, 0)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	info := &BundleInfo{}
	if info.UpTo, err = strconv.ParseUint(resp.Header.Get("Sandyq-Up-To"), 10, 64); err != nil {
		return nil, errors.New("the server's answer has no valid Sandyq-Up-To header")
	}
	if resp.StatusCode == http.StatusNoContent {
		info.Empty = true
		return info, nil
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != BundleMediaType {
		return nil, fmt.Errorf("unexpected answer from the server: %d %s", resp.StatusCode, sanitize(resp.Header.Get("Content-Type")))
	}
	info.More = resp.Header.Get("Sandyq-More") == "true"
	if resp.ContentLength < 0 {
		return nil, errors.New("the server sent a bundle without its length")
	}
	dst := w
	if progress != nil {
		dst = io.MultiWriter(w, progress(resp.ContentLength))
	}
	n, err := io.Copy(dst, resp.Body)
	info.Size = n
	if err != nil {
		return info, fmt.Errorf("receiving the bundle: %w", err)
	}
	if n != resp.ContentLength {
		return info, fmt.Errorf("receiving the bundle: got %d of %d bytes", n, resp.ContentLength)
	}
	return info, nil
}

// Ack tells the server that the journalist now holds everything up to
// upTo.
func (c *Client) Ack(ctx context.Context, upTo uint64) error {
	resp, err := c.do(ctx, http.MethodPost, "/v1/ack?up_to="+strconv.FormatUint(upTo, 10), nil, 0)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// PushResult is the server's answer to a reply bundle.
type PushResult struct {
	Stored  int `json:"stored"`
	Already int `json:"already"`
}

// PushReplies uploads a reply bundle of size bytes.
func (c *Client) PushReplies(ctx context.Context, r io.Reader, size int64) (*PushResult, error) {
	var res PushResult
	if err := c.push(ctx, "/v1/replies", r, size, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// push posts a bundle and decodes the server's JSON answer into res,
// strictly and within a small bound.
func (c *Client) push(ctx context.Context, target string, r io.Reader, size int64, res any) error {
	resp, err := c.do(ctx, http.MethodPost, target, r, size)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(res); err != nil {
		return fmt.Errorf("reading the server's answer: %w", err)
	}
	return nil
}
