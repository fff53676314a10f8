package tortest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// killDelay is how long a tor gets to exit after SIGTERM before SIGKILL.
const killDelay = 5 * time.Second

// proc is one running tor. Its pid is recorded at start; stop signals that
// pid and nothing else.
type proc struct {
	name string // node name, for errors
	dir  string // its DataDirectory
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait returned
	err  error         // cmd.Wait's result, set before done is closed
}

// startTor writes lines as dir/torrc and starts tor on it, with an empty
// defaults file so that nothing from /etc/tor is read. Tor's own stdout and
// stderr go to dir/stdout.log; its log is configured by the torrc lines.
func startTor(torPath, name, dir string, lines []string) (*proc, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tortest: creating %s directory: %w", name, err)
	}
	torrc := filepath.Join(dir, "torrc")
	if err := os.WriteFile(torrc, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("tortest: writing %s torrc: %w", name, err)
	}
	defaults := filepath.Join(dir, "torrc-defaults")
	if err := os.WriteFile(defaults, nil, 0o600); err != nil {
		return nil, fmt.Errorf("tortest: writing %s torrc-defaults: %w", name, err)
	}
	out, err := os.OpenFile(filepath.Join(dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tortest: creating %s stdout log: %w", name, err)
	}
	defer out.Close()
	cmd := exec.Command(torPath, "--defaults-torrc", defaults, "-f", torrc)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("tortest: starting %s: %w", name, err)
	}
	p := &proc{name: name, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended (without blocking).
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes an unexpected exit, pointing at the node's log.
func (p *proc) exitError() error {
	return fmt.Errorf("%w: %s (%v); see %s", ErrExited, p.name, p.err, filepath.Join(p.dir, "notice.log"))
}

// stop sends SIGTERM, waits up to killDelay, then sends SIGKILL and waits
// for the process to be reaped. It reports whether SIGKILL was needed; the
// error is only for a signal that could not be sent.
func (p *proc) stop() (killed bool, err error) {
	if p.exited() {
		return false, nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return false, fmt.Errorf("tortest: sending SIGTERM to %s: %w", p.name, err)
	}
	t := time.NewTimer(killDelay)
	defer t.Stop()
	select {
	case <-p.done:
		return false, nil
	case <-t.C:
	}
	err = p.cmd.Process.Kill()
	<-p.done
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return true, fmt.Errorf("tortest: sending SIGKILL to %s: %w", p.name, err)
	}
	return true, nil
}
