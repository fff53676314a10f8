package main

import (
	"net"
	"sync"
)

// muxListener is a net.Listener whose connections come from listeners fed
// to it later: the journalist onion is published only once a journalist is
// registered, possibly long after the HTTP server started serving.
type muxListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	fed   []net.Listener
}

func newMuxListener() *muxListener {
	return &muxListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// feed accepts connections from l until it or the muxListener is closed.
func (m *muxListener) feed(l net.Listener) {
	m.mu.Lock()
	select {
	case <-m.done:
		m.mu.Unlock()
		l.Close()
		return
	default:
	}
	m.fed = append(m.fed, l)
	m.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		select {
		case m.conns <- c:
		case <-m.done:
			c.Close()
			return
		}
	}
}

func (m *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; the fed listeners belong to their services, which
// close them, but are closed here too so that feed returns.
func (m *muxListener) Close() error {
	m.once.Do(func() {
		close(m.done)
		m.mu.Lock()
		for _, l := range m.fed {
			l.Close()
		}
		m.mu.Unlock()
	})
	return nil
}

func (m *muxListener) Addr() net.Addr { return muxAddr{} }

type muxAddr struct{}

func (muxAddr) Network() string { return "onion" }
func (muxAddr) String() string  { return "journalist onion" }
