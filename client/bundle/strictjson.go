package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// encoding/json alone accepts duplicate keys (the last one wins), matches
// keys case-insensitively, silently replaces invalid UTF-8, and accepts
// null for any field. checkStrict walks the token stream first and refuses
// all of that against a fixed schema, so that a manifest means exactly one
// thing to every reader.

// shape is the expected JSON type of a value.
type shape struct {
	kind   byte              // '{', '[', 's' (string), 'n' (integer)
	fields map[string]*shape // for '{': every key, all required
	elem   *shape            // for '['
}

var (
	str = &shape{kind: 's'}
	num = &shape{kind: 'n'}
)

func object(fields map[string]*shape) *shape { return &shape{kind: '{', fields: fields} }
func array(elem *shape) *shape               { return &shape{kind: '[', elem: elem} }

// maxStringLen caps every string in a manifest. The longest legitimate one
// is a reply recipient.
const maxStringLen = MaxRecipientSize

// checkStrict reports whether data is exactly one JSON value of shape sh:
// valid UTF-8, no duplicate, unknown or missing keys, integers without
// fraction, exponent or leading zeros, strings of at most maxStringLen bytes,
// arrays of at most MaxItems elements, nothing after the value.
func checkStrict(data []byte, sh *shape) error {
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: invalid UTF-8", ErrMalformedManifest)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walk(dec, sh); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the manifest", ErrMalformedManifest)
	}
	return nil
}

func walk(dec *json.Decoder, sh *shape) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	switch sh.kind {
	case '{':
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return fmt.Errorf("%w: expected an object", ErrMalformedManifest)
		}
		seen := make(map[string]bool, len(sh.fields))
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return syntaxError(err)
			}
			key, ok := tok.(string)
			if !ok {
				return fmt.Errorf("%w: expected a key", ErrMalformedManifest)
			}
			sub, known := sh.fields[key]
			if !known {
				return fmt.Errorf("%w: unknown key %q", ErrMalformedManifest, capText(key))
			}
			if seen[key] {
				return fmt.Errorf("%w: duplicate key %q", ErrMalformedManifest, key)
			}
			seen[key] = true
			if err := walk(dec, sub); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // '}'
			return syntaxError(err)
		}
		if len(seen) != len(sh.fields) {
			for k := range sh.fields {
				if !seen[k] {
					return fmt.Errorf("%w: missing key %q", ErrMalformedManifest, k)
				}
			}
		}
	case '[':
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return fmt.Errorf("%w: expected an array", ErrMalformedManifest)
		}
		n := 0
		for dec.More() {
			if n++; n > MaxItems {
				return fmt.Errorf("%w: array of more than %d elements", ErrTooLarge, MaxItems)
			}
			if err := walk(dec, sh.elem); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return syntaxError(err)
		}
	case 's':
		s, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%w: expected a string", ErrMalformedManifest)
		}
		if len(s) > maxStringLen {
			return fmt.Errorf("%w: string longer than %d bytes", ErrMalformedManifest, maxStringLen)
		}
	case 'n':
		n, ok := tok.(json.Number)
		if !ok || !isInteger(string(n)) {
			return fmt.Errorf("%w: expected an integer", ErrMalformedManifest)
		}
	default:
		panic("bundle: unknown shape")
	}
	return nil
}

// isInteger reports whether s is -?(0|[1-9][0-9]*) with at most 20 digits.
func isInteger(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 20 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func syntaxError(err error) error {
	if err == io.EOF {
		return fmt.Errorf("%w: unexpected end", ErrMalformedManifest)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: invalid JSON at byte %d", ErrMalformedManifest, se.Offset)
	}
	return fmt.Errorf("%w: invalid JSON", ErrMalformedManifest)
}

// jsonErrorText describes an encoding/json decoding error without
// repeating input.
func jsonErrorText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: value out of range or of the wrong type", te.Field)
	}
	return "invalid JSON"
}
