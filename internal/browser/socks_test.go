package browser

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// socksRequest is a CONNECT request that the test SOCKS5 server received.
type socksRequest struct {
	atyp byte   // 1 IPv4, 3 domain name, 4 IPv6
	host string // the name or the address as the client sent it
	port int
}

// socksServer is a minimal SOCKS5 server (RFC 1928, no authentication,
// CONNECT only) for tests. It records every request and connects the names
// in routes to their loopback addresses; anything else is refused with
// "host unreachable", so nothing leaves the machine.
type socksServer struct {
	ln     net.Listener
	routes map[string]string // "name:port" → "127.0.0.1:port"

	mu       sync.Mutex
	requests []socksRequest
	wg       sync.WaitGroup
}

func startSOCKS(t *testing.T, routes map[string]string) *socksServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &socksServer{ln: ln, routes: routes}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *socksServer) Addr() string { return s.ln.Addr().String() }

func (s *socksServer) Requests() []socksRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]socksRequest(nil), s.requests...)
}

func (s *socksServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
		}()
	}
}

func (s *socksServer) handle(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	req, err := readSOCKSRequest(c)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	dst, ok := s.routes[net.JoinHostPort(req.host, strconv.Itoa(req.port))]
	if !ok {
		c.Write([]byte{5, 4, 0, 1, 0, 0, 0, 0, 0, 0}) // host unreachable
		return
	}
	up, err := net.Dial("tcp", dst)
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}) // connection refused
		return
	}
	defer up.Close()
	if _, err := c.Write([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 0}); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

// readSOCKSRequest does the method negotiation (it accepts "no
// authentication" only) and reads a CONNECT request.
func readSOCKSRequest(c net.Conn) (socksRequest, error) {
	var req socksRequest
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return req, err
	}
	if hdr[0] != 5 {
		return req, errors.New("not SOCKS5")
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return req, err
	}
	if !slices.Contains(methods, 0) {
		c.Write([]byte{5, 0xff})
		return req, errors.New("no acceptable method")
	}
	if _, err := c.Write([]byte{5, 0}); err != nil {
		return req, err
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(c, head); err != nil {
		return req, err
	}
	if head[0] != 5 || head[1] != 1 {
		c.Write([]byte{5, 7, 0, 1, 0, 0, 0, 0, 0, 0}) // command not supported
		return req, errors.New("not CONNECT")
	}
	req.atyp = head[3]
	switch req.atyp {
	case 1, 4:
		ip := make([]byte, 4)
		if req.atyp == 4 {
			ip = make([]byte, 16)
		}
		if _, err := io.ReadFull(c, ip); err != nil {
			return req, err
		}
		req.host = net.IP(ip).String()
	case 3:
		n := make([]byte, 1)
		if _, err := io.ReadFull(c, n); err != nil {
			return req, err
		}
		name := make([]byte, n[0])
		if _, err := io.ReadFull(c, name); err != nil {
			return req, err
		}
		req.host = string(name)
	default:
		return req, errors.New("bad address type")
	}
	port := make([]byte, 2)
	if _, err := io.ReadFull(c, port); err != nil {
		return req, err
	}
	req.port = int(binary.BigEndian.Uint16(port))
	return req, nil
}
