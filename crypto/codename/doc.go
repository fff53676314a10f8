// Package codename generates and checks sandyq codenames.
//
// A codename is [Words] (7) words drawn uniformly and independently from the
// EFF large wordlist (7776 words), separated by single spaces, in lower case:
// 7 × log₂ 7776 ≈ 90.5 bits. It is the only thing a source needs to come
// back; it is shown once and never stored, logged or put in a cookie.
//
// [Generate] draws each word by rejection sampling over bytes read from an
// io.Reader (crypto/rand.Reader in production), so every word is exactly
// equally likely: no modulo bias.
//
// [Normalize] turns what a person types back into the canonical form. It
// first refuses input longer than [MaxInput] bytes (before any other work),
// then refuses invalid UTF-8, lower-cases, treats any run of Unicode white
// space (spaces, tabs, newlines, no-break spaces…) as one separator, and
// requires exactly seven words from the list. Its errors never contain the
// input.
//
// # Word list
//
// eff_large_wordlist.txt is the EFF Large Wordlist for Passphrases by the
// Electronic Frontier Foundation (https://www.eff.org/dice, July 2016),
// licensed under the Creative Commons Attribution 3.0 United States licence
// (CC BY 3.0 US). It is embedded unchanged: 7776 lines "DDDDD<TAB>word", dice
// numbers 11111–66666, SHA-256
// addd35536511597a02fa0a9ff1e5284677b8883b83e986e43f15a3db996b903e.
// Word i (0-based) is the word on line i+1.
package codename
