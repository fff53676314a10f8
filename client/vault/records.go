package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
)

// encodeRecord is the one encoding of every JSON record of the vault:
// indented, with a final newline.
func encodeRecord(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// readJSON reads the record at name into v, strictly: the file must be a
// regular file, at most maxRecord bytes, and exactly the
// bytes encodeRecord writes for the value it decodes to. That refuses
// unknown and duplicate keys, trailing data, other white space and invalid
// UTF-8 alike. Errors wrap ErrBadRecord (or ErrNotRegular), or are I/O
// errors without the path; a missing file wraps fs.ErrNotExist.
func (v *Vault) readJSON(name string, val any) error {
	f, err := v.openRegular(name, "reading a metadata record", false)
	if errors.Is(err, ErrNotRegular) {
		return fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecord+1))
	if err != nil {
		return ioErr("reading a metadata record", err)
	}
	if len(data) > maxRecord {
		return fmt.Errorf("%w: too large", ErrBadRecord)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(val); err != nil {
		return fmt.Errorf("%w: not valid JSON", ErrBadRecord)
	}
	again, err := encodeRecord(val)
	if err != nil || !bytes.Equal(again, data) {
		return fmt.Errorf("%w: not in the form this program writes", ErrBadRecord)
	}
	return nil
}

// writeRecord writes val as the record at name, through a temporary file
// in the same directory that is synced first. If replace is false an
// existing record is never touched (fs.ErrExist); if it is true the record
// is replaced atomically by a rename, which replaces a planted symlink
// itself and never writes through it.
func (v *Vault) writeRecord(name string, val any, replace bool) error {
	data, err := encodeRecord(val)
	if err != nil {
		return err
	}
	tmp := path.Join(path.Dir(name), tmpPrefix+path.Base(name))
	if err := v.writeTemp(tmp, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	}); err != nil {
		return err
	}
	if replace {
		err = ioErr("writing a metadata record", v.root.Rename(tmp, name))
	} else {
		err = v.link(tmp, name)
	}
	if err != nil {
		v.root.Remove(tmp)
		return err
	}
	return nil
}

// mkdirs makes the source directory srcHex and its metadata directory.
func (v *Vault) mkdirs(srcHex string) error {
	if err := v.mkdir(srcHex); err != nil {
		return err
	}
	return v.mkdir(srcHex + "/" + metaDir)
}

// isNotExist reports whether err says a file does not exist.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
