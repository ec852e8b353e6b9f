package config

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Setting is one environment variable the configuration reads.
type Setting struct {
	Name    string
	Default string // as it would be written in the environment; empty when unset means none
	Meaning string
}

// Settings lists every variable Load reads, in its order, with its default
// and meaning: what `localrun -h` prints.
func Settings() []Setting {
	_, r := load(func(string) string { return "" })
	return r.settings
}

// PrintSettings writes Settings as a table.
func PrintSettings(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, s := range Settings() {
		def := s.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, def, s.Meaning)
	}
	return tw.Flush()
}
