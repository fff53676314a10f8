package main

import (
	"errors"
)

// passphraseEnv names the environment variable that, when set, gives the
// passphrase instead of the terminal, for scripts and tests. It is visible
// to other processes of the same user and may end up in shell history:
// prefer the terminal.
const passphraseEnv = "SANDYQ_PASSPHRASE"

// maxPassphrase bounds a passphrase read from the terminal, in bytes.
const maxPassphrase = 1024

// askPassphrase returns the passphrase the user gives for prompt.
func askPassphrase(e *env, prompt string) (string, error) {
	if e.passphrase != nil {
		return e.passphrase(e, prompt)
	}
	return readPassphrase(e, prompt)
}

// readPassphrase reads a passphrase from $SANDYQ_PASSPHRASE if it is set,
// and otherwise from the terminal (/dev/tty) with echo turned off.
func readPassphrase(e *env, prompt string) (string, error) {
	if p := e.getenv(passphraseEnv); p != "" {
		return p, nil
	}
	return readTTY(prompt)
}

// newPassphrase asks for a new passphrase twice and checks that both match
// and that it is not empty.
func newPassphrase(e *env) (string, error) {
	if e.passphrase == nil && e.getenv(passphraseEnv) != "" {
		infof(e, "using the passphrase from $%s", passphraseEnv)
		return e.getenv(passphraseEnv), nil
	}
	p, err := askPassphrase(e, "Enter a passphrase for the new identity: ")
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", errors.New("the passphrase is empty")
	}
	q, err := askPassphrase(e, "Confirm the passphrase: ")
	if err != nil {
		return "", err
	}
	if p != q {
		return "", errors.New("the passphrases do not match")
	}
	return p, nil
}
