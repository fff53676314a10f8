// Package bech32 implements the Bech32 encoding of BIP-173, as used by age and
// sandyq key strings, without BIP-173's 90-character length limit.
//
// Strings may be all lower case or all upper case; mixed case is refused. The
// checksum is always computed over the lower-case form. Decode returns the
// human-readable part (HRP) in the case it was given.
//
// This is an internal, low-level package: callers check the HRP themselves.
package bech32

import "strings"

const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// checksumLen is the number of 5-bit groups in the checksum.
const checksumLen = 6

var generator = [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}

func polymod(values []byte) uint32 {
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if (top>>i)&1 == 1 {
				chk ^= generator[i]
			}
		}
	}
	return chk
}

// hrpExpand returns the HRP expansion of BIP-173 for the lower-case hrp.
func hrpExpand(hrp string) []byte {
	out := make([]byte, 0, 2*len(hrp)+1)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]&31)
	}
	return out
}

func createChecksum(hrp string, data []byte) []byte {
	values := append(hrpExpand(hrp), data...)
	values = append(values, make([]byte, checksumLen)...)
	mod := polymod(values) ^ 1
	out := make([]byte, checksumLen)
	for i := range out {
		out[i] = byte(mod>>(5*(5-i))) & 31
	}
	return out
}

func verifyChecksum(hrp string, data []byte) bool {
	return polymod(append(hrpExpand(hrp), data...)) == 1
}

// convertBits regroups data from groups of fromBits into groups of toBits.
// When pad is true the final group is zero-padded; otherwise leftover bits
// must be fewer than fromBits and all zero.
func convertBits(data []byte, fromBits, toBits uint, pad bool) ([]byte, error) {
	var acc uint32
	var bits uint
	maxv := uint32(1)<<toBits - 1
	out := make([]byte, 0, len(data)*int(fromBits)/int(toBits)+1)
	for _, b := range data {
		if uint32(b)>>fromBits != 0 {
			return nil, ErrInvalidChar
		}
		acc = acc<<fromBits | uint32(b)
		bits += fromBits
		for bits >= toBits {
			bits -= toBits
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(toBits-bits)&maxv))
		}
	} else if bits >= fromBits || acc<<(toBits-bits)&maxv != 0 {
		return nil, ErrPadding
	}
	return out, nil
}

func validHRP(hrp string) error {
	if hrp == "" {
		return ErrEmptyHRP
	}
	for i := 0; i < len(hrp); i++ {
		if hrp[i] < 33 || hrp[i] > 126 {
			return ErrInvalidInput
		}
	}
	if strings.ToLower(hrp) != hrp && strings.ToUpper(hrp) != hrp {
		return ErrMixedCase
	}
	return nil
}

// Encode returns the Bech32 encoding of data with the given HRP. If hrp is
// upper case the result is upper case, otherwise lower case.
func Encode(hrp string, data []byte) (string, error) {
	if err := validHRP(hrp); err != nil {
		return "", err
	}
	upper := strings.ToUpper(hrp) == hrp && strings.ToLower(hrp) != hrp
	lower := strings.ToLower(hrp)
	values, err := convertBits(data, 8, 5, true)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(hrp) + 1 + len(values) + checksumLen)
	b.WriteString(lower)
	b.WriteByte('1')
	for _, v := range values {
		b.WriteByte(charset[v])
	}
	for _, v := range createChecksum(lower, values) {
		b.WriteByte(charset[v])
	}
	if upper {
		return strings.ToUpper(b.String()), nil
	}
	return b.String(), nil
}

// decode5 decodes s into its HRP (in the given case) and 5-bit data groups,
// checksum removed.
func decode5(s string) (string, []byte, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return "", nil, ErrInvalidChar
		}
	}
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return "", nil, ErrMixedCase
	}
	pos := strings.LastIndexByte(s, '1')
	if pos < 0 {
		return "", nil, ErrNoSeparator
	}
	if pos == 0 {
		return "", nil, ErrEmptyHRP
	}
	if len(s)-pos-1 < checksumLen {
		return "", nil, ErrShortData
	}
	hrp := s[:pos]
	lower := strings.ToLower(s)
	data := make([]byte, 0, len(s)-pos-1)
	for i := pos + 1; i < len(lower); i++ {
		d := strings.IndexByte(charset, lower[i])
		if d < 0 {
			return "", nil, ErrInvalidChar
		}
		data = append(data, byte(d))
	}
	if !verifyChecksum(lower[:pos], data) {
		return "", nil, ErrChecksum
	}
	return hrp, data[:len(data)-checksumLen], nil
}

// Decode decodes a Bech32 string into its HRP (in the case it was given) and
// data bytes. There is no length limit: callers bound their input.
func Decode(s string) (hrp string, data []byte, err error) {
	hrp, values, err := decode5(s)
	if err != nil {
		return "", nil, err
	}
	data, err = convertBits(values, 5, 8, false)
	if err != nil {
		return "", nil, err
	}
	return hrp, data, nil
}
