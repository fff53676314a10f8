// Package testvec reads and writes the self-describing test vector files in
// crypto/testdata. It is used only by tests.
//
// A file is UTF-8 text. Lines starting with "#" are comments that describe
// the file. Vectors are records of "name: value" lines; records are separated
// by one or more empty lines. A value that spans lines (such as a signed
// recipient set) is written as "name: <<END" followed by the verbatim lines
// and a line "END"; the value is those lines, each with its "\n".
package testvec

import (
	"bytes"
	"fmt"
	"strings"
)

// Record is one vector: its fields in file order.
type Record struct {
	Names  []string
	Values map[string]string
}

// Get returns the value of name, or "" if absent.
func (r *Record) Get(name string) string { return r.Values[name] }

// Add appends a field.
func (r *Record) Add(name, value string) {
	if r.Values == nil {
		r.Values = map[string]string{}
	}
	r.Names = append(r.Names, name)
	r.Values[name] = value
}

// Parse parses a vector file.
func Parse(data []byte) ([]*Record, error) {
	var recs []*Record
	var cur *Record
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		switch {
		case strings.HasPrefix(line, "#"):
			continue
		case line == "":
			cur = nil
			continue
		}
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, fmt.Errorf("line %d: want \"name: value\"", i+1)
		}
		if value == "<<END" {
			var b strings.Builder
			for i++; i < len(lines) && lines[i] != "END"; i++ {
				b.WriteString(lines[i] + "\n")
			}
			if i == len(lines) {
				return nil, fmt.Errorf("line %d: missing END", i)
			}
			value = b.String()
		}
		if cur == nil {
			cur = &Record{}
			recs = append(recs, cur)
		}
		if _, dup := cur.Values[name]; dup {
			return nil, fmt.Errorf("line %d: duplicate field %q", i+1, name)
		}
		cur.Add(name, value)
	}
	return recs, nil
}

// Format writes a vector file with the given comment lines (without "# ").
func Format(comment []string, recs []*Record) []byte {
	var b bytes.Buffer
	for _, c := range comment {
		if c == "" {
			b.WriteString("#\n")
		} else {
			b.WriteString("# " + c + "\n")
		}
	}
	for _, r := range recs {
		b.WriteString("\n")
		for _, n := range r.Names {
			v := r.Values[n]
			if strings.Contains(v, "\n") {
				b.WriteString(n + ": <<END\n" + v + "END\n")
			} else {
				b.WriteString(n + ": " + v + "\n")
			}
		}
	}
	return b.Bytes()
}
