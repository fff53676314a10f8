package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// readTTY prints prompt on /dev/tty and reads a line from it with echo
// turned off. It reads from the controlling terminal, not stdin, so that a
// passphrase is never taken from a pipe by accident.
func readTTY(prompt string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("no terminal to read the passphrase from (set $%s to give it another way)", passphraseEnv)
	}
	defer tty.Close()
	io.WriteString(tty, prompt)
	p, err := term.ReadPassword(int(tty.Fd()))
	io.WriteString(tty, "\n")
	if err != nil {
		return "", fmt.Errorf("reading the passphrase from the terminal: %w", err)
	}
	if len(p) > maxPassphrase {
		return "", fmt.Errorf("the passphrase is longer than %d bytes", maxPassphrase)
	}
	return string(p), nil
}
