package bech32

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Test vectors from BIP-173 ("Test vectors" section), typed in by hand.
var validChecksum = []string{
	"A12UEL5L",
	"a12uel5l",
	"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
	"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
	"11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
	"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
	"?1ezyfcl",
}

var invalidChecksum = []struct {
	s    string
	want error // nil: any error
}{
	{"\x201nwldj5", ErrInvalidChar},  // HRP character out of range
	{"\x7f1axkwrx", ErrInvalidChar},  // HRP character out of range
	{"\x801eym55h", ErrInvalidChar},  // HRP character out of range
	{"pzry9x0s0muk", ErrNoSeparator}, // no separator character
	{"1pzry9x0s0muk", ErrEmptyHRP},   // empty HRP
	{"x1b4n0q5v", ErrInvalidChar},    // invalid data character
	{"li1dgmt3", ErrShortData},       // too short checksum
	{"de1lg7wt\xff", ErrInvalidChar}, // invalid character in checksum
	{"A1G7SGD8", ErrChecksum},        // checksum calculated with upper-case HRP
	{"10a06t8", ErrEmptyHRP},         // empty HRP
	{"1qzzfhee", ErrEmptyHRP},        // empty HRP
	{"a12UEL5L", ErrMixedCase},       // mixed case (BIP-173 rule)
	{"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxx", ErrChecksum},
}

func TestValidChecksum(t *testing.T) {
	for _, s := range validChecksum {
		hrp, data, err := decode5(s)
		if err != nil {
			t.Errorf("decode5(%q): %v", s, err)
			continue
		}
		if want := s[:strings.LastIndexByte(s, '1')]; hrp != want {
			t.Errorf("decode5(%q): hrp %q, want %q", s, hrp, want)
		}
		// Re-encode from the 5-bit groups.
		lower := strings.ToLower(hrp)
		var b strings.Builder
		b.WriteString(lower + "1")
		for _, v := range data {
			b.WriteByte(charset[v])
		}
		for _, v := range createChecksum(lower, data) {
			b.WriteByte(charset[v])
		}
		if got := b.String(); got != strings.ToLower(s) {
			t.Errorf("re-encode %q: got %q", s, got)
		}
	}
}

// BIP-173 lists this one as invalid only because it exceeds 90 characters;
// this package has no length limit, so it must decode.
func TestNoLengthLimit(t *testing.T) {
	s := "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx"
	if _, _, err := decode5(s); err != nil {
		t.Fatalf("decode5 of the 91-character vector: %v", err)
	}
	long := bytes.Repeat([]byte{0xa5}, 3000)
	enc, err := Encode("AGE-SECRET-KEY-PQ-", long)
	if err != nil {
		t.Fatal(err)
	}
	hrp, data, err := Decode(enc)
	if err != nil || hrp != "AGE-SECRET-KEY-PQ-" || !bytes.Equal(data, long) {
		t.Fatalf("round trip of 3000 bytes: hrp %q, err %v", hrp, err)
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range invalidChecksum {
		_, _, err := Decode(tc.s)
		if err == nil {
			t.Errorf("Decode(%q) succeeded", tc.s)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("Decode(%q): %v, want %v", tc.s, err, tc.want)
		}
		if strings.Contains(err.Error(), tc.s) && tc.s != "" {
			t.Errorf("error echoes the input: %v", err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for n := range 70 {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*37 + n)
		}
		for _, hrp := range []string{"age", "sandyq-newsroom", "SANDYQ-NEWSROOM-SECRET-KEY-"} {
			s, err := Encode(hrp, data)
			if err != nil {
				t.Fatal(err)
			}
			if hrp == strings.ToUpper(hrp) && s != strings.ToUpper(s) {
				t.Errorf("Encode(%q) not upper case: %q", hrp, s)
			}
			h, d, err := Decode(s)
			if err != nil || h != hrp || !bytes.Equal(d, data) {
				t.Fatalf("round trip %q %d: %q %x %v", hrp, n, h, d, err)
			}
		}
	}
}

func TestEncodeRefusesBadHRP(t *testing.T) {
	for _, hrp := range []string{"", "Mixed", "a b", "\x7f"} {
		if _, err := Encode(hrp, []byte{1}); err == nil {
			t.Errorf("Encode(%q) succeeded", hrp)
		}
	}
}

// Non-zero padding bits must be refused (strict 5→8 conversion).
func TestNonZeroPadding(t *testing.T) {
	s, _ := Encode("a", []byte{0xff})
	// 0xff = 11111 111(00): last group "11100" → flip a padding bit to 11101.
	hrp, values, err := decode5(s)
	if err != nil {
		t.Fatal(err)
	}
	values[len(values)-1] |= 1
	var b strings.Builder
	b.WriteString(hrp + "1")
	for _, v := range values {
		b.WriteByte(charset[v])
	}
	for _, v := range createChecksum(hrp, values) {
		b.WriteByte(charset[v])
	}
	if _, _, err := Decode(b.String()); !errors.Is(err, ErrPadding) {
		t.Fatalf("non-zero padding: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range validChecksum {
		f.Add(s)
	}
	f.Add("age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq")
	f.Fuzz(func(t *testing.T, s string) {
		hrp, data, err := Decode(s)
		if err != nil {
			return
		}
		enc, err := Encode(hrp, data)
		if err != nil {
			t.Fatalf("Encode after Decode: %v", err)
		}
		if enc != s {
			t.Fatalf("Decode→Encode: %q != %q", enc, s)
		}
	})
}
