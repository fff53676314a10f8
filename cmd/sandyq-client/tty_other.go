//go:build !linux

package main

import "fmt"

// readTTY is only implemented on Linux so far (see tty_linux.go).
func readTTY(prompt string) (string, error) {
	return "", fmt.Errorf("reading a passphrase from the terminal is not supported on this system; set $%s", passphraseEnv)
}
