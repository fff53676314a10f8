package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// sandyqServer is a running "sandyq serve".
type sandyqServer struct {
	*server
	url, jurl string // source and journalist base URLs, no final slash
}

// serveOpts choose how sandyq serve runs.
type serveOpts struct {
	kdfTest    bool   // --kdf-test: codenames cost nothing (set-up only)
	memLimit   int    // --memory-limit in MiB; 0: the default
	journalist bool   // also --dev-journalist-listen
	torrc      string // serve over Tor with these extra lines, not on loopback
}

// serveSandyq starts sandyq serve on dir and waits until it prints its
// address(es).
func (b *bench) serveSandyq(ctx context.Context, dir string, o serveOpts) (*sandyqServer, error) {
	args := []string{"serve", "-d", dir}
	if o.kdfTest {
		args = append(args, "--kdf-test")
	}
	if o.memLimit > 0 {
		args = append(args, "--memory-limit", fmt.Sprint(o.memLimit))
	}
	want := 1
	timeout := 30 * time.Second
	if o.torrc != "" {
		args = append(args, "--torrc", o.torrc)
		timeout = 3 * time.Minute
	} else {
		args = append(args, "--dev-listen", "127.0.0.1:0")
		if o.journalist {
			args = append(args, "--dev-journalist-listen", "127.0.0.1:0")
			want = 2
		}
	}
	s, err := b.procs.startServer(ctx, runOpts{}, b.tools.sandyq, args...)
	if err != nil {
		return nil, err
	}
	var urls []string
	for len(urls) < want {
		line, err := s.waitLine(ctx, timeout, func(l string) bool { return strings.HasPrefix(l, "http://") })
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("sandyq serve: %w", err)
		}
		urls = append(urls, strings.TrimSuffix(line, "/"))
	}
	srv := &sandyqServer{server: s, url: urls[0]}
	if want == 2 {
		srv.jurl = urls[1]
	}
	return srv, nil
}

var onionShareURL = regexp.MustCompile(`^http://[a-z0-9.:]+$`)

// startOnionShare starts onionshare-cli in receive mode, storing what it
// receives under dataDir. Without a config it runs --local-only on
// loopback; with one (a settings file pointing at a tor control port) it
// publishes an onion service, without client authorization (--public),
// as sandyq's source onion has none. It returns the server and its URL.
func (b *bench) startOnionShare(ctx context.Context, dataDir, config string) (*server, string, error) {
	home := filepath.Join(b.work, "onionshare-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", err
	}
	args := []string{"--receive", "--data-dir", dataDir}
	timeout := 30 * time.Second
	if config == "" {
		args = append(args, "--local-only")
	} else {
		args = append(args, "--public", "--config", config)
		timeout = 3 * time.Minute
	}
	s, err := b.procs.startServer(ctx, runOpts{Env: []string{"HOME=" + home}}, b.tools.onionshare, args...)
	if err != nil {
		return nil, "", err
	}
	line, err := s.waitLine(ctx, timeout, onionShareURL.MatchString)
	if err != nil {
		s.stop()
		return nil, "", fmt.Errorf("onionshare-cli: %w", err)
	}
	return s, line, nil
}

// onionShareSettings writes an OnionShare settings file that makes it use
// an already running tor through its control port.
func onionShareSettings(path string, controlPort int) error {
	b, err := json.Marshal(map[string]any{
		"connection_type":      "control_port",
		"control_port_address": "127.0.0.1",
		"control_port_port":    controlPort,
		"auth_type":            "no_auth",
		"use_autoupdate":       false,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// dirBytes sums the sizes of the regular files under dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
