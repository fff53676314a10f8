// Package sourcekey derives a source's keys from its codename.
//
// A source has no account: everything sandyq knows about it is derived from
// its codename and the instance pepper, a 32-byte secret kept in the server's
// data directory (not in the database):
//
//	master = Argon2id(password = normalized codename, salt = pepper,
//	                  t = Params.Time, m = Params.MemoryKiB, p = Params.Threads,
//	                  32 bytes)
//	sourceID  = HKDF-SHA256(secret = master, salt = none, info = "sandyq v1 source id",       32 bytes)
//	replySeed = HKDF-SHA256(secret = master, salt = none, info = "sandyq v1 reply identity",  32 bytes)
//	replyIdentity = age.ParseHybridIdentity(Bech32("AGE-SECRET-KEY-PQ-", replySeed))
//
// The source ID is the store key of the source. The reply identity is an age
// post-quantum hybrid identity (ML-KEM-768 + X25519); only its recipient
// ("age1pq1…") is stored, so journalists can encrypt replies that only the
// source, holding the codename, can decrypt. age v1.3.2 has no constructor
// from a seed, but its hybrid secret key encoding is exactly the Bech32 of
// the 32-byte seed, which is what this package builds.
//
// The derivation is deterministic: the same codename, pepper and [Params]
// always give the same keys, and changing any of them gives unrelated keys.
// The parameters are therefore part of the format: [Default] must not change
// for an existing instance.
//
// # Parameters
//
// [Default] is t = 3, m = 64 MiB, p = 4: the second recommended option of RFC
// 9106 §4 ("if much less memory is available"), which is also well above
// OWASP's password-storage minimum for Argon2id (m = 19 MiB, t = 2, p = 1).
// The server runs derivations under a small semaphore, so 64 MiB each keeps
// its memory bounded; the codename itself carries ~90.5 bits of entropy, so
// the cost protects against offline attacks by whoever has the database and
// the pepper, not against guessing weak secrets.
//
// [TestParams] are cheap parameters for tests only: they offer no protection.
package sourcekey
