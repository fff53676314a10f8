package termsafe_test

import (
	"fmt"
	"io"
	"os"
	"strings"

	"sandyq/client/termsafe"
)

func ExampleEscape() {
	name := "invoice\u202egpj.exe\x1b]52;c;cm0gLXJmIH4=\x07"
	fmt.Println(termsafe.Escape(name))
	fmt.Println(termsafe.Escape("Қазақстан 2024.pdf"))
	// Output:
	// invoice\u202egpj.exe\x1b]52;c;cm0gLXJmIH4=\x07
	// Қазақстан 2024.pdf
}

func ExampleEscapeText() {
	msg := "Сәлем!\r\nLine two\x1b[2J\rhidden"
	fmt.Println(termsafe.EscapeText(msg))
	// Output:
	// Сәлем!
	// Line two\x1b[2J\rhidden
}

func ExampleNewWriter() {
	w := termsafe.NewWriter(os.Stdout, termsafe.Text)
	if _, err := io.Copy(w, strings.NewReader("first line\r\nsecond \x07line\n")); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	// Output:
	// first line
	// second \x07line
}
