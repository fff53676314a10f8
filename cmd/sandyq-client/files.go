package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"filippo.io/age"

	"sandyq/client/accesskey"
	"sandyq/crypto/recipients"
	"sandyq/crypto/sign"
)

// maxKeyFile bounds what is read from a key file or a recipients file.
const maxKeyFile = 1 << 20

// writeNew creates the file at path with the given mode and contents. It
// refuses to overwrite an existing file (O_CREATE|O_EXCL, which also refuses
// a dangling symlink), syncs the file, checks the error from Close, and
// removes the file if anything fails, so that nothing partial is left.
// Callers compute all of data before calling it. flagName ("-o") names the
// file in errors, which never contain the path.
func writeNew(path string, mode fs.FileMode, data []byte, flagName string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("the %s file already exists; refusing to overwrite it", flagName)
		}
		return fileErr("creating", flagName, err)
	}
	// Make sure the mode is what we asked for, whatever the umask.
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fileErr("writing", flagName, err)
	}
	return nil
}

// readSmall reads a file of at most maxKeyFile bytes.
func readSmall(path, flagName string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileErr("opening", flagName, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fileErr("reading", flagName, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("the %s file is too large (over %d bytes)", flagName, maxKeyFile)
	}
	return b, nil
}

// fileErr describes a file error by the flag that named the file, without
// the path (which may be anything the user typed, a secret included).
func fileErr(op, flagName string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		err = errno
	}
	return fmt.Errorf("%s the %s file: %w", op, flagName, err)
}

// writeBundleFile creates the -o bundle file (O_EXCL, 0600: never
// replacing anything), writes it with write, syncs it, and removes it on
// any failure, so that no partial bundle is left. Errors of write that
// wrap one of keep are returned as they are (they say what was wrong with
// the content); others are reported as a failure to write the file.
func writeBundleFile(path string, write func(io.Writer) error, keep ...error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return errors.New("the -o file already exists; refusing to overwrite it")
		}
		return fileErr("creating", "-o", err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		err = write(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		for _, k := range keep {
			if errors.Is(err, k) {
				return err
			}
		}
		return fileErr("writing", "-o", err)
	}
	return nil
}

// readAccessKeyFile reads the journalist's access key file.
func readAccessKeyFile(path string) (*accesskey.Key, error) {
	data, err := readSmall(path, "--access-key")
	if err != nil {
		return nil, err
	}
	defer clear(data)
	ak, err := accesskey.Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("the --access-key file: %w", err)
	}
	return ak, nil
}

// readSignedSet reads the signed recipient set of --recipients and
// verifies it against the newsroom key of --newsroom-key (its text or a
// file). What its validity window means is the caller's decision.
func readSignedSet(path, newsroomKey string) (*recipients.Signed, error) {
	pub, err := readPublicKey(newsroomKey, sign.Newsroom, "--newsroom-key")
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fileErr("opening", "--recipients", err)
	}
	defer f.Close()
	set, err := recipients.ReadSigned(f, pub)
	if err != nil {
		return nil, fmt.Errorf("the --recipients set: %w", err)
	}
	return set, nil
}

// gatherIdentities reads every -i identity file and, with --keys, every
// identity of the epoch key directory.
func gatherIdentities(e *env, idPaths []string, keyDir string) ([]age.Identity, error) {
	var ids []age.Identity
	for _, p := range idPaths {
		got, err := readIdentities(e, p)
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	if keyDir != "" {
		got, err := readKeyDir(e, keyDir)
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	return ids, nil
}
