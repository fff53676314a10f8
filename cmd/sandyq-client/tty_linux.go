package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// readTTY prints prompt on /dev/tty and reads a line from it with echo
// turned off, restoring the terminal afterwards. It reads from the
// controlling terminal, not stdin, so that a passphrase is never taken from
// a pipe by accident.
//
// golang.org/x/term.ReadPassword does the same; this uses x/sys (already a
// dependency of the module through x/crypto) until x/term is added.
func readTTY(prompt string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("no terminal to read the passphrase from (set $%s to give it another way)", passphraseEnv)
	}
	defer tty.Close()
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", errors.New("the passphrase must be typed on a terminal")
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	noEcho.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", errors.New("could not turn off the terminal's echo")
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	io.WriteString(tty, prompt)
	p, err := readLine(tty)
	io.WriteString(tty, "\n")
	return p, err
}
