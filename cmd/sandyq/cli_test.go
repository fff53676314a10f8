package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"sandyq/crypto/sign"
)

// TestScripts runs the command-line scripts in testdata/script/*.txtar.
//
// The scripts use a subset of the testscript language
// (github.com/rogpeppe/go-internal/testscript), interpreted here because
// go-internal is not a dependency of the module: a txtar archive whose
// comment is the script and whose files are written into $WORK, the
// directory each script runs in. Commands, each optionally negated with "!":
//
//	exec PROG ARGS...    run PROG ("sandyq" is this package's command);
//	                     "! exec" expects a non-zero exit
//	status N             the last exec exited with code N
//	stdout REGEXP        the last exec's stdout matches (multi-line mode)
//	stderr REGEXP        the same for stderr
//	exists PATH...       the files exist
//	cmp A B              files A and B are equal ("stdout"/"stderr": the
//	                     last exec's output)
//	cp SRC DST           copy a file ("stdout"/"stderr" as for cmp)
//	mkdir PATH...        create directories
//	listdir DIR          list DIR recursively as the stdout of a command,
//	                     one "path size mode" line per entry, sorted
//	env KEY=VALUE        set a variable
//
// Arguments are split at blanks; '…' quotes (” for a quote); $VAR and
// ${VAR} are expanded outside quotes. Variables: $WORK, and for keys
// $NEWSROOM_PUB (a fresh newsroom public key) and $NEWSROOM_SECRET (its
// secret key).
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "script", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata/script")
	}
	bin := sandyqBin(t)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			s := newScript(t, bin)
			script := s.unpack(data)
			s.run(file, script)
		})
	}
}

type script struct {
	t              *testing.T
	bin            string
	work           string
	vars           map[string]string
	stdout, stderr []byte
	status         int
	ran            bool
}

func newScript(t *testing.T, bin string) *script {
	k, err := sign.Generate(rand.Reader, sign.Newsroom)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	for _, d := range []string{"tmp", "home"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return &script{t: t, bin: bin, work: work, vars: map[string]string{
		"WORK":            work,
		"NEWSROOM_PUB":    k.Public().String(),
		"NEWSROOM_SECRET": k.String(),
	}}
}

// unpack writes the archive's files into $WORK and returns the script.
func (s *script) unpack(data []byte) string {
	lines := strings.SplitAfter(string(data), "\n")
	var comment strings.Builder
	var name string
	var content strings.Builder
	flush := func() {
		if name == "" {
			return
		}
		p := filepath.Join(s.work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content.String()), 0o644); err != nil {
			s.t.Fatal(err)
		}
		content.Reset()
	}
	for _, line := range lines {
		l := strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(l, "-- ") && strings.HasSuffix(l, " --") && len(l) > 6 {
			flush()
			name = strings.TrimSpace(l[3 : len(l)-3])
			continue
		}
		if name == "" {
			comment.WriteString(line)
		} else {
			content.WriteString(line)
		}
	}
	flush()
	return comment.String()
}

func (s *script) run(file, text string) {
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s.t.Logf("> %s", line)
		if err := s.do(line); err != nil {
			s.t.Fatalf("%s:%d: %s: %v", file, i+1, line, err)
		}
	}
}

func (s *script) do(line string) error {
	args, err := s.split(line)
	if err != nil {
		return err
	}
	neg := false
	if args[0] == "!" {
		neg, args = true, args[1:]
		if len(args) == 0 {
			return errors.New("missing command after !")
		}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "exec":
		return s.exec(neg, args)
	case "status":
		if neg || len(args) != 1 {
			return errors.New("usage: status N")
		}
		want, err := strconv.Atoi(args[0])
		if err != nil {
			return err
		}
		if !s.ran {
			return errors.New("no command ran")
		}
		if s.status != want {
			return fmt.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", s.status, want, s.stdout, s.stderr)
		}
		return nil
	case "stdout", "stderr":
		if len(args) != 1 {
			return fmt.Errorf("usage: %s REGEXP", cmd)
		}
		out := s.stdout
		if cmd == "stderr" {
			out = s.stderr
		}
		re, err := regexp.Compile("(?m)" + args[0])
		if err != nil {
			return err
		}
		if re.Match(out) == neg {
			if neg {
				return fmt.Errorf("%s unexpectedly matches:\n%s", cmd, out)
			}
			return fmt.Errorf("%s does not match:\n%s", cmd, out)
		}
		return nil
	case "exists":
		if len(args) == 0 {
			return errors.New("usage: exists PATH...")
		}
		for _, a := range args {
			_, err := os.Stat(s.path(a))
			if neg && err == nil {
				return fmt.Errorf("%s exists", a)
			}
			if !neg && err != nil {
				return err
			}
		}
		return nil
	case "cmp":
		if len(args) != 2 {
			return errors.New("usage: cmp A B")
		}
		a, err := s.read(args[0])
		if err != nil {
			return err
		}
		b, err := s.read(args[1])
		if err != nil {
			return err
		}
		if bytes.Equal(a, b) == neg {
			return fmt.Errorf("%s and %s: equal %v, want %v\n--- %s\n%s--- %s\n%s", args[0], args[1], !neg, neg, args[0], a, args[1], b)
		}
		return nil
	case "cp":
		if neg || len(args) != 2 {
			return errors.New("usage: cp SRC DST")
		}
		b, err := s.read(args[0])
		if err != nil {
			return err
		}
		return os.WriteFile(s.path(args[1]), b, 0o644)
	case "mkdir":
		for _, a := range args {
			if err := os.MkdirAll(s.path(a), 0o755); err != nil {
				return err
			}
		}
		return nil
	case "listdir":
		if neg || len(args) != 1 {
			return errors.New("usage: listdir DIR")
		}
		out, err := listDir(s.path(args[0]))
		if err != nil {
			return err
		}
		s.stdout, s.stderr, s.status, s.ran = out, nil, 0, true
		return nil
	case "env":
		for _, a := range args {
			k, v, ok := strings.Cut(a, "=")
			if !ok {
				return errors.New("usage: env KEY=VALUE")
			}
			s.vars[k] = v
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func (s *script) exec(neg bool, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: exec PROG ARGS...")
	}
	prog := args[0]
	if prog == "sandyq" {
		prog = s.bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, prog, args[1:]...)
	c.Dir = s.work
	c.Env = sandyqEnv("HOME="+filepath.Join(s.work, "home"), "TMPDIR="+filepath.Join(s.work, "tmp"))
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	s.stdout, s.stderr, s.ran = stdout.Bytes(), stderr.Bytes(), true
	var ee *exec.ExitError
	switch {
	case err == nil:
		s.status = 0
	case errors.As(err, &ee) && ee.Exited():
		s.status = ee.ExitCode()
	default:
		return err
	}
	if (s.status != 0) != neg {
		return fmt.Errorf("exit status %d (negated: %v)\nstdout:\n%s\nstderr:\n%s", s.status, neg, s.stdout, s.stderr)
	}
	return nil
}

func (s *script) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.work, p)
}

func (s *script) read(name string) ([]byte, error) {
	switch name {
	case "stdout":
		return s.stdout, nil
	case "stderr":
		return s.stderr, nil
	}
	return os.ReadFile(s.path(name))
}

// split splits a script line into words, with '…' quoting and $VAR
// expansion outside quotes.
func (s *script) split(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			inWord = true
			for {
				i++
				if i >= len(line) {
					return nil, errors.New("unterminated quote")
				}
				if line[i] == '\'' {
					if i+1 < len(line) && line[i+1] == '\'' {
						cur.WriteByte('\'')
						i++
						continue
					}
					break
				}
				cur.WriteByte(line[i])
			}
		case c == '$':
			inWord = true
			j := i + 1
			var name string
			if j < len(line) && line[j] == '{' {
				end := strings.IndexByte(line[j:], '}')
				if end < 0 {
					return nil, errors.New("unterminated ${")
				}
				name, i = line[j+1:j+end], j+end
			} else {
				for j < len(line) && (line[j] == '_' || 'A' <= line[j] && line[j] <= 'Z' || 'a' <= line[j] && line[j] <= 'z' || '0' <= line[j] && line[j] <= '9') {
					j++
				}
				name, i = line[i+1:j], j-1
			}
			if name == "" {
				cur.WriteByte('$')
			} else {
				cur.WriteString(s.vars[name])
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	return words, nil
}

// listDir lists every entry under dir as "path size mode", sorted: enough
// to tell whether a command changed anything in it.
func listDir(dir string) ([]byte, error) {
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		size := fi.Size()
		if fi.IsDir() {
			size = 0
		}
		lines = append(lines, fmt.Sprintf("%s %d %v", filepath.ToSlash(rel), size, fi.Mode()))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(lines)
	return []byte(strings.Join(lines, "\n") + "\n"), nil
}
