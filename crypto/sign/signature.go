package sign

import (
	"crypto/ed25519"
)

// sigPrefix starts every signed message; see the package documentation.
const sigPrefix = "sandyq-sig-v1"

// MaxContext is the longest signature context, in bytes.
const MaxContext = 64

func validContext(context string) bool {
	if len(context) == 0 || len(context) > MaxContext {
		return false
	}
	for i := 0; i < len(context); i++ {
		if context[i] < 0x21 || context[i] > 0x7e {
			return false
		}
	}
	return true
}

// signedMessage returns the bytes that Ed25519 actually signs.
func signedMessage(context string, msg []byte) []byte {
	m := make([]byte, 0, len(sigPrefix)+1+len(context)+len(msg))
	m = append(m, sigPrefix...)
	m = append(m, byte(len(context)))
	m = append(m, context...)
	return append(m, msg...)
}

// Sign signs msg for the given context (domain separation, see the package
// documentation) and returns the 64-byte Ed25519 signature.
//
// Sign panics if context is not 1 to [MaxContext] bytes of printable ASCII:
// contexts are constants in the calling code.
func (k *PrivateKey) Sign(context string, msg []byte) []byte {
	if !validContext(context) {
		panic("sign: invalid signature context")
	}
	return ed25519.Sign(k.key, signedMessage(context, msg))
}

// Verify reports whether sig is p's valid signature of msg for context.
// It returns false for an invalid context.
func (p *PublicKey) Verify(context string, msg, sig []byte) bool {
	if !validContext(context) || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(p.key, signedMessage(context, msg), sig)
}
