package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"sandyq/client/bundle"
	"sandyq/crypto/sign"
)

const (
	settingsDir = ".sandyq"

	// PinFile is where a vault keeps its pinned instance key, relative to
	// the vault directory, in the format of bundle.WritePin.
	PinFile = settingsDir + "/instance.pub"
)

// A Vault keeps the instance key pinned for the bundles opened into it.
var _ bundle.PinStore = (*Vault)(nil)

// LoadPin returns the instance key pinned in the vault, or nil and no error
// if none is. A pin file that is not a regular file, is empty or does not
// hold an instance public key is an error.
func (v *Vault) LoadPin() (*sign.PublicKey, error) {
	f, err := v.openRegular(PinFile, "reading the pinned key", false)
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the pinned instance key (%s): %w", PinFile, err)
	}
	defer f.Close()
	k, err := bundle.ReadPin(f)
	if err != nil {
		return nil, fmt.Errorf("the pinned instance key (%s): %w", PinFile, err)
	}
	return k, nil
}

// SavePin pins key in the vault. It never replaces a pin: if one exists,
// it returns an error wrapping bundle.ErrPinMismatch (use bundle.Pin, which
// accepts the same key again). Changing the pin is a deliberate act: the
// journalist removes the file after checking the new key with the admin.
func (v *Vault) SavePin(key *sign.PublicKey) error {
	if key == nil || key.Kind() != sign.Instance {
		return errors.New("vault: only an instance key can be pinned")
	}
	if err := v.mkdir(settingsDir); err != nil {
		return err
	}
	tmp := settingsDir + "/" + tmpPrefix + "instance.pub"
	if err := v.writeTemp(tmp, func(f *os.File) error { return bundle.WritePin(f, key) }); err != nil {
		return err
	}
	err := v.link(tmp, PinFile)
	if err != nil {
		v.root.Remove(tmp)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: a key is already pinned", bundle.ErrPinMismatch)
	}
	return err
}
