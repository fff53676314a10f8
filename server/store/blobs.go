package store

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"
)

// Recipient sets, journalists and settings are opaque to the store: it
// keeps the bytes it is given (signed statements, records encoded by their
// owners) and gives them back. Their meaning and validation belong to the
// caller.

// SettingCurrentSet is the setting that holds the 16-byte ID of the
// recipient set new uploads are encrypted to (see SetCurrentRecipientSet).
const SettingCurrentSet = "recipients.current"

// PutRecipientSet stores a raw signed recipient set under its ID. Sets are
// immutable: putting the same bytes again is a no-op, different bytes
// under an existing ID fail with ErrExists.
func (s *Store) PutRecipientSet(id [16]byte, raw []byte) error {
	return s.PutRecipientSets([]RecipientSetRecord{{ID: id, Raw: raw}})
}

// RecipientSetRecord is one set for PutRecipientSets.
type RecipientSetRecord struct {
	ID  [16]byte
	Raw []byte
}

// PutRecipientSets stores several sets in one transaction: all or none
// (a schedule of epochs is installed whole). A set already stored with the
// same bytes is skipped; another set under the same ID is ErrExists.
func (s *Store) PutRecipientSets(sets []RecipientSetRecord) error {
	if err := s.writable(); err != nil {
		return err
	}
	for _, r := range sets {
		if len(r.Raw) == 0 || len(r.Raw) > MaxBlob {
			return fmt.Errorf("%w: recipient set of %d bytes", ErrTooLarge, len(r.Raw))
		}
	}
	return s.update(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketSets)
		if err != nil {
			return err
		}
		for _, r := range sets {
			rec := encodeBlob(r.Raw)
			if old := b.Get(r.ID[:]); old != nil {
				if bytes.Equal(old, rec) {
					continue
				}
				return fmt.Errorf("recipient set: %w", ErrExists)
			}
			if err := b.Put(r.ID[:], rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecipientSet returns the raw set stored under id, or ErrNotFound.
func (s *Store) RecipientSet(id [16]byte) ([]byte, error) {
	return s.getBlob(bucketSets, id[:], "recipient set")
}

// RecipientSets returns every stored set, raw, by ID.
func (s *Store) RecipientSets() (map[[16]byte][]byte, error) {
	out := make(map[[16]byte][]byte)
	err := s.view(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketSets)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			raw, err := decodeBlob(v)
			if err != nil || len(k) != 16 {
				return fmt.Errorf("%w: recipient set record", ErrCorrupt)
			}
			out[[16]byte(k)] = raw
			return nil
		})
	})
	return out, err
}

// DeleteRecipientSet removes a set. The current set cannot be removed
// (ErrInvalid); switch to another one first.
func (s *Store) DeleteRecipientSet(id [16]byte) error {
	if err := s.writable(); err != nil {
		return err
	}
	return s.update(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketSets)
		if err != nil {
			return err
		}
		if b.Get(id[:]) == nil {
			return fmt.Errorf("recipient set: %w", ErrNotFound)
		}
		if cur := tx.Bucket(bucketSettings).Get([]byte(SettingCurrentSet)); bytes.Equal(cur, encodeBlob(id[:])) {
			return fmt.Errorf("%w: the current recipient set cannot be deleted", ErrInvalid)
		}
		return b.Delete(id[:])
	})
}

// SetCurrentRecipientSet makes id the current set, in one transaction
// that first checks the set is stored (ErrNotFound otherwise). Uploads
// already in progress keep the set they started with.
func (s *Store) SetCurrentRecipientSet(id [16]byte) error {
	if err := s.writable(); err != nil {
		return err
	}
	return s.update(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketSets)
		if err != nil {
			return err
		}
		if b.Get(id[:]) == nil {
			return fmt.Errorf("recipient set: %w", ErrNotFound)
		}
		return tx.Bucket(bucketSettings).Put([]byte(SettingCurrentSet), encodeBlob(id[:]))
	})
}

// CurrentRecipientSet returns the current set's ID and raw bytes, or
// ErrNotFound if none was chosen.
func (s *Store) CurrentRecipientSet() ([16]byte, []byte, error) {
	var (
		id  [16]byte
		raw []byte
	)
	err := s.view(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketSettings).Get([]byte(SettingCurrentSet))
		if v == nil {
			return fmt.Errorf("current recipient set: %w", ErrNotFound)
		}
		b, err := decodeBlob(v)
		if err != nil || len(b) != 16 {
			return fmt.Errorf("%w: current recipient set setting", ErrCorrupt)
		}
		id = [16]byte(b)
		v = tx.Bucket(bucketSets).Get(b)
		if v == nil {
			return fmt.Errorf("%w: the current recipient set is missing", ErrCorrupt)
		}
		raw, err = decodeBlob(v)
		return err
	})
	return id, raw, err
}

// PutJournalist stores (or replaces) the opaque record of a journalist.
func (s *Store) PutJournalist(id string, rec []byte) error {
	return s.putBlob(bucketJournalists, id, rec)
}

// Journalist returns a journalist's record, or ErrNotFound.
func (s *Store) Journalist(id string) ([]byte, error) {
	return s.getBlob(bucketJournalists, []byte(id), "journalist")
}

// Journalists returns every journalist record by ID.
func (s *Store) Journalists() (map[string][]byte, error) {
	return s.allBlobs(bucketJournalists)
}

// DeleteJournalist removes a journalist's record (ErrNotFound if absent).
func (s *Store) DeleteJournalist(id string) error {
	return s.deleteBlob(bucketJournalists, id, "journalist")
}

// Setting returns the value of a setting, or ErrNotFound.
func (s *Store) Setting(key string) ([]byte, error) {
	return s.getBlob(bucketSettings, []byte(key), "setting")
}

// PutSetting stores (or replaces) a setting.
func (s *Store) PutSetting(key string, v []byte) error {
	return s.putBlob(bucketSettings, key, v)
}

// DeleteSetting removes a setting (ErrNotFound if absent).
func (s *Store) DeleteSetting(key string) error {
	return s.deleteBlob(bucketSettings, key, "setting")
}

func (s *Store) writable() error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	return nil
}

func checkKey(key string) error {
	if key == "" || len(key) > MaxKey {
		return fmt.Errorf("%w: key of %d bytes", ErrInvalid, len(key))
	}
	return nil
}

func (s *Store) putBlob(name []byte, key string, v []byte) error {
	if err := s.writable(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if len(v) > MaxBlob {
		return fmt.Errorf("%w: value of %d bytes", ErrTooLarge, len(v))
	}
	rec := encodeBlob(v)
	return s.update(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), rec)
	})
}

func (s *Store) getBlob(name, key []byte, what string) ([]byte, error) {
	var out []byte
	err := s.view(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		v := b.Get(key)
		if v == nil {
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		out, err = decodeBlob(v)
		return err
	})
	return out, err
}

func (s *Store) allBlobs(name []byte) (map[string][]byte, error) {
	out := make(map[string][]byte)
	err := s.view(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			raw, err := decodeBlob(v)
			if err != nil {
				return err
			}
			out[string(k)] = raw
			return nil
		})
	})
	return out, err
}

func (s *Store) deleteBlob(name []byte, key, what string) error {
	if err := s.writable(); err != nil {
		return err
	}
	return s.update(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		if b.Get([]byte(key)) == nil {
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		return b.Delete([]byte(key))
	})
}
