package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// procs tracks every child process the benchmark starts. Each child gets
// its own process group (its own children, such as the tor that "sandyq
// serve" starts, stay in it), so that killAll can end all of them with
// SIGKILL to the group, whatever state they are in.
type procs struct {
	mu     sync.Mutex
	live   map[int]string // process group ID → command name
	closed bool           // after killAll: nothing new may start
}

func newProcs() *procs { return &procs{live: map[int]string{}} }

// command prepares cmd: its own process group, SIGKILL if the benchmark
// dies without cleaning up (Pdeathsig), and SIGKILL to the whole group
// when ctx ends.
func (p *procs) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { p.killGroup(cmd.Process.Pid); return nil }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// start starts cmd and records its process group.
func (p *procs) start(cmd *exec.Cmd) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("shutting down: not starting " + cmd.Path)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.live[cmd.Process.Pid] = cmd.Path
	return nil
}

// wait waits for cmd and forgets its process group. Whatever the group's
// leader left behind is killed first, while the exited leader is not yet
// reaped: its process ID, which is the group's ID, cannot have been reused.
func (p *procs) wait(cmd *exec.Cmd) error {
	pid := cmd.Process.Pid
	waitExited(pid)
	p.mu.Lock()
	syscall.Kill(-pid, syscall.SIGKILL)
	delete(p.live, pid)
	p.mu.Unlock()
	return cmd.Wait()
}

// waitExited blocks until the child pid has exited, without reaping it
// (waitid with WNOWAIT), so that cmd.Wait still collects its status.
func waitExited(pid int) {
	const pPID, wEXITED, wNOWAIT = 1, 4, 0x1000000
	var info [128]byte // siginfo_t
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), wEXITED|wNOWAIT, 0, 0)
		if e != syscall.EINTR {
			return
		}
	}
}

// killGroup sends SIGKILL to the process group of the child pid if that
// child has not been reaped yet (wait forgets a group, under the same
// lock, before reaping its leader, whose pid may then be reused).
func (p *procs) killGroup(pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.live[pid]; ok {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// killAll sends SIGKILL to every process group still recorded, and refuses
// to start anything after. It is safe to call more than once, and from a
// signal handler goroutine while others are starting processes.
func (p *procs) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for pgid := range p.live {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// result is what run reports of a finished command.
type result struct {
	Stdout, Stderr string
	Elapsed        time.Duration
	PeakRSS        int64 // bytes: the process's VmHWM, sampled; 0: unknown
}

// runOpts adjust run. The zero value runs in the current directory with
// the benchmark's environment and stdout captured.
type runOpts struct {
	Dir    string
	Env    []string  // appended to os.Environ()
	Stdin  io.Reader // nil: /dev/null
	Stdout io.Writer // nil: captured in result.Stdout
}

// run runs a command to its end and times it from start to exit. An exit
// status other than 0 is an error that quotes the end of stderr.
func (p *procs) run(ctx context.Context, o runOpts, name string, args ...string) (result, error) {
	cmd := p.command(ctx, name, args...)
	cmd.Dir = o.Dir
	if o.Env != nil {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	cmd.Stdin = o.Stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	}
	cmd.Stderr = &stderr
	begin := time.Now()
	if err := p.start(cmd); err != nil {
		return result{}, fmt.Errorf("starting %s: %w", name, err)
	}
	hwm := sampleHWM(cmd.Process.Pid)
	waitExited(cmd.Process.Pid)
	peak := hwm()
	err := p.wait(cmd)
	r := result{Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(begin), PeakRSS: peak}
	if err != nil {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		return r, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(r.Stderr, 6))
	}
	return r, nil
}

// tail returns the last n lines of s, on one line.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// server is a long-running child: a sandyq serve or an onionshare-cli.
type server struct {
	p      *procs
	cmd    *exec.Cmd
	stderr *ringBuffer
	lines  chan string // stdout, line by line, until the process ends
	done   chan struct{}
}

// startServer starts a long-running child whose stdout is read line by
// line (see waitLine) and whose stderr is kept, the last 64 KiB, for error
// messages.
func (p *procs) startServer(ctx context.Context, o runOpts, name string, args ...string) (*server, error) {
	cmd := p.command(ctx, name, args...)
	cmd.Dir = o.Dir
	if o.Env != nil {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	s := &server{p: p, cmd: cmd, stderr: &ringBuffer{max: 64 << 10}, lines: make(chan string, 64), done: make(chan struct{})}
	cmd.Stderr = s.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.start(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		// OnionShare prints a progress line for every 64 KiB received:
		// read it all, keep what fits in the channel, drop the rest.
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			default:
			}
		}
		io.Copy(io.Discard, out)
		close(s.lines)
	}()
	go func() {
		p.wait(cmd)
		close(s.done)
	}()
	return s, nil
}

// pid returns the server's process ID.
func (s *server) pid() int { return s.cmd.Process.Pid }

// waitLine returns the first stdout line that match accepts, or an error
// quoting stderr if the process ends or timeout passes first.
func (s *server) waitLine(ctx context.Context, timeout time.Duration, match func(string) bool) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				<-s.done
				return "", fmt.Errorf("%s exited: %s", s.cmd.Path, tail(s.stderr.String(), 8))
			}
			if match(line) {
				return line, nil
			}
		case <-t.C:
			return "", fmt.Errorf("%s printed nothing expected within %v: %s", s.cmd.Path, timeout, tail(s.stderr.String(), 8))
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// stop kills the server's process group and waits for it. Stopping a
// stopped server does nothing.
func (s *server) stop() {
	s.p.killGroup(s.pid())
	<-s.done
}

// alive reports whether the server is still running.
func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// vmHWM reads the peak resident set size of a running process, in bytes.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("reading peak memory: %w", err)
	}
	return parseVmHWM(string(b))
}

// sampleHWM polls the peak resident set (VmHWM) of the child pid every
// 10 ms; the returned func stops and gives the last peak seen (0 if none
// was: a process shorter than the interval). Call it once the child has
// exited but before it is reaped, so that pid cannot be another process.
//
// The kernel's own figure, the maxrss of wait4's rusage, does not do
// here: Go starts children with vfork, and Linux carries the parent's
// peak over into the child's maxrss at exec, so every child would seem
// to use as much memory as the benchmark itself.
func sampleHWM(pid int) func() int64 {
	stop, done := make(chan struct{}), make(chan int64, 1)
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	go func() {
		var peak int64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(path); err == nil {
				if v, err := parseVmHWM(string(b)); err == nil {
					peak = max(peak, v)
				}
			}
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		return <-done
	}
}

// anonSampler samples a process's anonymous resident memory (RssAnon:
// heap and stacks, not memory-mapped files such as the store's database,
// whose pages are page cache the kernel may drop) every 20 ms, and keeps
// the peak. The kernel keeps no peak of it, hence the sampling; a peak
// shorter than the interval can be missed.
type anonSampler struct {
	stop chan struct{}
	done chan int64
}

func sampleAnon(pid int) *anonSampler {
	s := &anonSampler{stop: make(chan struct{}), done: make(chan int64, 1)}
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	go func() {
		var peak int64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(path); err == nil {
				if v, err := statusKB(string(b), "RssAnon"); err == nil {
					peak = max(peak, v)
				}
			}
			select {
			case <-s.stop:
				s.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// peak stops the sampling and returns the peak seen, in bytes.
func (s *anonSampler) peak() int64 {
	close(s.stop)
	return <-s.done
}

// memPeak is the memory a measured process (or group of processes) held
// at its peak, in bytes: hwm is the peak resident set (VmHWM, or maxrss
// for a command-line tool), anon the sampled peak of its anonymous part
// (-1: not sampled).
type memPeak struct{ hwm, anon int64 }

func (m memPeak) String() string {
	s := "peak RSS unknown"
	if m.hwm > 0 {
		s = fmt.Sprintf("peak RSS %6.1f MiB", float64(m.hwm)/(1<<20))
	}
	if m.anon >= 0 {
		s += fmt.Sprintf(" (anonymous %6.1f MiB)", float64(m.anon)/(1<<20))
	}
	return s
}

// watchMemory resets pid's peak RSS and starts sampling its anonymous
// memory; the returned func stops and reports both peaks.
func watchMemory(pid int) (func() (memPeak, error), error) {
	if err := resetHWM(pid); err != nil {
		return nil, err
	}
	s := sampleAnon(pid)
	return func() (memPeak, error) {
		anon := s.peak()
		hwm, err := vmHWM(pid)
		return memPeak{hwm: hwm, anon: anon}, err
	}, nil
}

// resetHWM resets a process's peak resident set size to its current one
// (proc(5), clear_refs value 5), so that a measurement sees only the peak
// of what follows, not of the set-up before it.
func resetHWM(pid int) error {
	err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
	if err != nil {
		return fmt.Errorf("resetting peak memory: %w", err)
	}
	return nil
}

// ringBuffer keeps the last max bytes written to it.
type ringBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (r *ringBuffer) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.b = append(r.b, p...)
	if over := len(r.b) - r.max; over > 0 {
		r.b = append(r.b[:0], r.b[over:]...)
	}
	return len(p), nil
}

func (r *ringBuffer) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.b)
}
