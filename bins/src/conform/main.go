// Command conform is elftrace's conformance program: one binary, many small
// self-checking subcommands, each exercising one area of the Go runtime and the
// Linux interface beneath it (see bins/README.md for the list).
//
// Every subcommand prints deterministic output (no addresses, times or pids),
// ends with "NAME ok" when its checks passed, and otherwise prints
// "NAME FAIL: reason" to stderr and exits 1. Subcommands that demonstrate a
// crash (unrecovered panics, signals, os.Exit) end the way the crash ends.
// Usage errors exit 2; "conform list" prints every subcommand name.
//
// The source builds with Go 1.19 and newer toolchains: only Go 1.19 APIs.
package main

import (
	"fmt"
	"os"
	"sort"
)

type subcommand struct {
	name string
	help string
	run  func(args []string) error
}

var registry = map[string]subcommand{}

func register(name, help string, run func(args []string) error) {
	if _, dup := registry[name]; dup {
		panic("duplicate subcommand " + name)
	}
	registry[name] = subcommand{name, help, run}
}

func names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: conform SUBCOMMAND [ARGS...] | conform list\n\nsubcommands:\n")
	for _, n := range names() {
		fmt.Fprintf(os.Stderr, "  %-16s %s\n", n, registry[n].help)
	}
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	if os.Args[1] == "list" {
		for _, n := range names() {
			fmt.Println(n)
		}
		return
	}
	sc, ok := registry[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "conform: unknown subcommand %q\n", os.Args[1])
		usage()
	}
	if err := sc.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s FAIL: %v\n", sc.name, err)
		os.Exit(1)
	}
	fmt.Printf("%s ok\n", sc.name)
}

// failf builds the error a failed check returns.
func failf(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}
