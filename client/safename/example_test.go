package safename_test

import (
	"fmt"
	"testing/fstest"

	"sandyq/client/safename"
)

func ExampleSanitize() {
	for _, name := range []string{
		"../../etc/passwd",
		`C:\Windows\win.ini`,
		"x\u202etxt.exe",
		"con.txt",
		".bashrc",
		"Сұхбат 2024.docx",
	} {
		fmt.Println(safename.Sanitize(name))
	}
	// Output:
	// _.._etc_passwd
	// C__Windows_win.ini
	// x_txt.exe
	// _con.txt
	// bashrc
	// Сұхбат 2024.docx
}

func ExampleUnique() {
	dir := fstest.MapFS{"report.pdf": {}, "report (2).pdf": {}}
	name, err := safename.Unique("report.pdf", safename.InDir(dir))
	if err != nil {
		panic(err)
	}
	fmt.Println(name)
	// Output:
	// report (3).pdf
}
