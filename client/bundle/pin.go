package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"sandyq/crypto/sign"
)

// PinStore keeps the one server instance key a client trusts. The client
// implements it on a file in its configuration directory (written with
// [WritePin], read with [ReadPin]); tests use memory.
type PinStore interface {
	// LoadPin returns the pinned key, or nil and no error if none is
	// pinned yet.
	LoadPin() (*sign.PublicKey, error)
	// SavePin pins key. It is only called when no key is pinned.
	SavePin(key *sign.PublicKey) error
}

// PinFuncs adapts two functions to a [PinStore].
type PinFuncs struct {
	Load func() (*sign.PublicKey, error)
	Save func(*sign.PublicKey) error
}

// LoadPin calls f.Load.
func (f PinFuncs) LoadPin() (*sign.PublicKey, error) { return f.Load() }

// SavePin calls f.Save.
func (f PinFuncs) SavePin(key *sign.PublicKey) error { return f.Save(key) }

// Pin pins key, an instance key given explicitly (for example copied from
// the admin's `sandyq admin status`). Pinning the key that is already
// pinned does nothing; a different key gives ErrPinMismatch and changes
// nothing: replacing a pin is a deliberate act outside this package.
func Pin(store PinStore, key *sign.PublicKey) error {
	if key == nil || key.Kind() != sign.Instance {
		return fmt.Errorf("bundle: only an instance key can be pinned")
	}
	old, err := store.LoadPin()
	if err != nil {
		return fmt.Errorf("bundle: loading the pinned key: %w", err)
	}
	if old != nil {
		if old.Equal(key) {
			return nil
		}
		return ErrPinMismatch
	}
	if err := store.SavePin(key); err != nil {
		return fmt.Errorf("bundle: saving the pinned key: %w", err)
	}
	return nil
}

// Pinned returns a TrustFunc for submissions bundles that trusts only the
// pinned key, and refuses every bundle (ErrNotPinned) while none is pinned.
func Pinned(store PinStore) TrustFunc {
	return TrustOnFirstUse(store, nil)
}

// TrustOnFirstUse returns a TrustFunc for submissions bundles. If a key is
// pinned, it trusts that key only (ErrPinMismatch for any other). If none
// is pinned and confirm is not nil, it calls confirm with the signer of
// the first bundle — the client shows the key (String and Fingerprint) and
// asks the journalist to compare it with the one the admin sees on the
// server — and, if confirm returns nil, pins the key and trusts it.
//
// The TrustFunc is called only for a bundle whose signature verified, so
// only a key that really signed a bundle can be pinned.
func TrustOnFirstUse(store PinStore, confirm func(*sign.PublicKey) error) TrustFunc {
	return func(signer *sign.PublicKey) error {
		old, err := store.LoadPin()
		if err != nil {
			return fmt.Errorf("loading the pinned key: %w", err)
		}
		if old != nil {
			if old.Equal(signer) {
				return nil
			}
			return ErrPinMismatch
		}
		if confirm == nil {
			return ErrNotPinned
		}
		if err := confirm(signer); err != nil {
			return err
		}
		return Pin(store, signer)
	}
}

// maxPinFile caps what ReadPin reads.
const maxPinFile = 1024

// ReadPin parses a pin file: one instance public key ("sandyq-instance1…")
// and optional surrounding white space, at most 1 KiB. An empty file gives
// ErrNotPinned.
func ReadPin(r io.Reader) (*sign.PublicKey, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxPinFile+1))
	if err != nil {
		return nil, fmt.Errorf("bundle: reading pin: %w", err)
	}
	if len(b) > maxPinFile {
		return nil, fmt.Errorf("bundle: pin file larger than %d bytes", maxPinFile)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, ErrNotPinned
	}
	k, err := sign.ParsePublicKey(string(b), sign.Instance)
	if err != nil {
		return nil, fmt.Errorf("bundle: pin file: %w", err)
	}
	return k, nil
}

// WritePin writes key in the pin file format read by [ReadPin].
func WritePin(w io.Writer, key *sign.PublicKey) error {
	if key == nil || key.Kind() != sign.Instance {
		return errors.New("bundle: only an instance key can be pinned")
	}
	_, err := io.WriteString(w, key.String()+"\n")
	return err
}
