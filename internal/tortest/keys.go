package tortest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// cacheVersion names the layout of the key cache; bump it when the layout
// changes so that an old cache is ignored rather than misread.
const cacheVersion = "v1"

// cacheMaxAge is how long cached authority keys are reused. tor-gencert is
// told to certify the signing key for 12 months; a month keeps us far away
// from that expiry.
const cacheMaxAge = 30 * 24 * time.Hour

// authority is the identity of one directory authority.
type authority struct {
	keysDir string // cached keys directory to copy into the node's DataDirectory
	v3ident string // hex fingerprint of the authority identity key (v3ident=)
	rsaFpr  string // hex fingerprint of the relay identity key
}

// authorityKeys returns n authority identities, generating them with
// tor-gencert and tor --list-fingerprint the first time and caching them in
// os.TempDir. The cache is safe for concurrent test binaries: each identity
// is generated in a private directory and moved into place with one
// rename; whoever loses the race uses the winner's keys.
func authorityKeys(ctx context.Context, torPath, gencertPath string, n int) ([]authority, error) {
	cache := filepath.Join(os.TempDir(), fmt.Sprintf("sandyq-tortest-authorities-%s-uid%d", cacheVersion, os.Getuid()))
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return nil, fmt.Errorf("tortest: creating authority key cache: %w", err)
	}
	auths := make([]authority, n)
	for i := range n {
		dir := filepath.Join(cache, fmt.Sprintf("auth%d", i))
		a, err := loadAuthority(dir)
		if err != nil {
			if err := generateAuthority(ctx, torPath, gencertPath, cache, dir); err != nil {
				return nil, err
			}
			if a, err = loadAuthority(dir); err != nil {
				return nil, err
			}
		}
		auths[i] = a
	}
	return auths, nil
}

// loadAuthority reads a cached identity; any problem (missing, too old,
// malformed) is an error, and the caller regenerates.
func loadAuthority(dir string) (authority, error) {
	fi, err := os.Stat(filepath.Join(dir, "complete"))
	if err != nil {
		return authority{}, err
	}
	if time.Since(fi.ModTime()) > cacheMaxAge {
		return authority{}, errors.New("tortest: cached authority keys too old")
	}
	cert, err := os.ReadFile(filepath.Join(dir, "keys", "authority_certificate"))
	if err != nil {
		return authority{}, err
	}
	var v3ident string
	sc := bufio.NewScanner(bytes.NewReader(cert))
	for sc.Scan() {
		if f, ok := strings.CutPrefix(sc.Text(), "fingerprint "); ok {
			v3ident = strings.TrimSpace(f)
			break
		}
	}
	fpr, err := os.ReadFile(filepath.Join(dir, "rsa-fingerprint"))
	if err != nil {
		return authority{}, err
	}
	a := authority{keysDir: filepath.Join(dir, "keys"), v3ident: v3ident, rsaFpr: strings.TrimSpace(string(fpr))}
	if !isHex40(a.v3ident) || !isHex40(a.rsaFpr) {
		return authority{}, fmt.Errorf("tortest: malformed cached authority in %s", dir)
	}
	return a, nil
}

// generateAuthority creates an identity in a temporary directory under
// cache and renames it to dir. If dir already exists (another test binary
// won, or an old entry is being replaced), the old one is moved aside first.
func generateAuthority(ctx context.Context, torPath, gencertPath, cache, dir string) error {
	tmp, err := os.MkdirTemp(cache, "tmp-")
	if err != nil {
		return fmt.Errorf("tortest: creating authority key directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	keys := filepath.Join(tmp, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		return fmt.Errorf("tortest: creating authority key directory: %w", err)
	}
	gen := exec.CommandContext(ctx, gencertPath, "--create-identity-key", "--passphrase-fd", "0", "-m", "12")
	gen.Dir = keys
	gen.Stdin = strings.NewReader("\n")
	if out, err := gen.CombinedOutput(); err != nil {
		return fmt.Errorf("tortest: tor-gencert: %w: %s", err, bytes.TrimSpace(out))
	}
	empty := filepath.Join(tmp, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return fmt.Errorf("tortest: writing empty torrc: %w", err)
	}
	// --list-fingerprint creates the relay identity in DataDirectory/keys
	// and prints "<nickname> <fingerprint in groups of four>".
	lf := exec.CommandContext(ctx, torPath, "--list-fingerprint", "--defaults-torrc", empty, "-f", empty,
		"--DataDirectory", tmp, "--ORPort", "127.0.0.1:1", "--Address", "127.0.0.1",
		"--Nickname", "tortestauth", "--Log", "err stderr")
	out, err := lf.Output()
	if err != nil {
		return fmt.Errorf("tortest: tor --list-fingerprint: %w", err)
	}
	var fpr string
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "tortestauth "); ok {
			fpr = strings.ReplaceAll(rest, " ", "")
		}
	}
	if !isHex40(fpr) {
		return fmt.Errorf("tortest: tor --list-fingerprint printed no fingerprint")
	}
	if err := os.WriteFile(filepath.Join(tmp, "rsa-fingerprint"), []byte(fpr+"\n"), 0o600); err != nil {
		return fmt.Errorf("tortest: writing fingerprint: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "complete"), nil, 0o600); err != nil {
		return fmt.Errorf("tortest: marking authority keys complete: %w", err)
	}
	// Publish with one rename. If an entry is already there, either a
	// concurrent test binary just stored a good one (use it) or it is stale
	// (move it aside, then retry the rename once).
	if err := os.Rename(tmp, dir); err == nil {
		return nil
	}
	if _, err := loadAuthority(dir); err == nil {
		return nil
	}
	aside, err := os.MkdirTemp(cache, "old-")
	if err != nil {
		return fmt.Errorf("tortest: replacing stale authority keys: %w", err)
	}
	defer os.RemoveAll(aside)
	_ = os.Rename(dir, filepath.Join(aside, "stale")) // may fail if a racer moved it first
	if err := os.Rename(tmp, dir); err != nil {
		if _, lerr := loadAuthority(dir); lerr == nil {
			return nil
		}
		return fmt.Errorf("tortest: storing authority keys: %w", err)
	}
	return nil
}

func isHex40(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// copyKeys copies the cached keys directory into a node's DataDirectory.
func copyKeys(src, dataDir string) error {
	dst := filepath.Join(dataDir, "keys")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return fmt.Errorf("tortest: creating keys directory: %w", err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("tortest: reading cached keys: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return fmt.Errorf("tortest: reading cached key: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			return fmt.Errorf("tortest: copying cached key: %w", err)
		}
	}
	return nil
}
