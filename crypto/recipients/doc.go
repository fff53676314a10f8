// Package recipients parses age recipients and reads and writes signed
// recipient sets.
//
// # Recipients
//
// sandyq encrypts to age post-quantum hybrid recipients ("age1pq1…",
// ML-KEM-768 + X25519) by default, or to classic X25519 recipients ("age1…").
// age refuses to mix the two in one file, so a set is all of one [Kind].
// [ParseRecipient] refuses anything else, and in particular refuses a secret
// key pasted where a recipient belongs, with [ErrSecretKey], whose message
// says that it is a secret key that must not be shared. No error of this
// package repeats the string it was given.
//
// # Signed sets
//
// A [Set] is the list of recipients that submissions are encrypted to, with a
// random ID and a validity window. The newsroom key (package sandyq/crypto/sign,
// kind Newsroom) signs it as a small, strict text statement:
//
//	sandyq recipient set v1
//	id: 00112233445566778899aabbccddeeff
//	kind: pq
//	not-before: 2025-01-01T00:00:00Z
//	not-after: 2026-01-01T00:00:00Z
//	recipient: age1pq1…
//	recipient: age1pq1…
//	signer: sandyq-newsroom1…
//	signature: <86 characters of unpadded standard base64>
//
// Every line ends in "\n" (no "\r"); fields appear exactly in this order;
// "recipient" appears 1 to [MaxRecipients] times, every other field once;
// there are no other lines, no comments and no blank lines. The signature is
// an Ed25519 signature by the signer, made with [sign.PrivateKey.Sign] in the
// context "recipient-set", over the exact bytes of every preceding line. A
// statement is at most [MaxSize] bytes. docs/format.md is the full
// specification.
//
// [Parse] checks the size first, then the signature against the pinned
// newsroom key, and only then parses the recipients: a set that parses is
// exactly one that the newsroom signed, byte for byte. Parse does not check
// the validity window; use [Set.CheckTime].
package recipients
