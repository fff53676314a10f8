// Package sign implements sandyq's Ed25519 keys and domain-separated
// signatures.
//
// # Keys
//
// There are three kinds of keys ([Kind]): the newsroom key, which signs
// recipient sets and is kept offline by sandyq-client; journalists' access
// keys, which sign requests to the journalist API; and the server's instance
// key, which signs bundles.
//
// Keys have typed, checksummed Bech32 (BIP-173) text encodings. Public keys
// are lower case with the human-readable part "sandyq-<kind>":
//
//	sandyq-newsroom1…
//
// Secret keys are upper case and say what they are:
//
//	SANDYQ-NEWSROOM-SECRET-KEY-1…
//
// A public key encodes the 32-byte Ed25519 public key; a secret key encodes
// the 32-byte Ed25519 seed (RFC 8032 private key). [ParsePublicKey] refuses a
// secret key with an error that says so, without repeating it, and refuses a
// key of another kind.
//
// # Signatures
//
// Every signature is made for a context, a short ASCII string naming what is
// signed (for example "recipient-set"), so that a signature made for one
// purpose can never be accepted for another. The Ed25519 message is
//
//	"sandyq-sig-v1" || byte(len(context)) || context || message
//
// that is, the fixed 13-byte prefix, the context length as one byte, the
// context, then the message bytes. Contexts are 1 to 64 bytes of printable
// ASCII (0x21–0x7e). Signatures are plain Ed25519 (RFC 8032, not Ed25519ctx)
// so any Ed25519 implementation can verify them.
//
// Randomness is read from an io.Reader passed to [Generate]
// (crypto/rand.Reader in production), so tests can be deterministic.
package sign
