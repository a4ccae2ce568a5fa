// Command inltest prints what runtime.Callers and runtime.CallersFrames report for
// a call made from doubly inlined code: the oracle for elftrace's expansion of
// pclntab inline trees (tests/unit/test_gopclntab.py, which reads the output that
// tests/unit/data/gen_gopclntab_oracle.py records). It imports only runtime, and
// prints with println (to stderr), to keep the binary small.
package main

import "runtime"

var sink []uintptr

// leaf is inlined into middle, and middle into outer: the runtime.Callers call
// (itself inlinable) sits two or three inlined levels deep inside outer's code.
func leaf(pcs []uintptr) int {
	return runtime.Callers(0, pcs)
}

func middle(pcs []uintptr) int {
	return leaf(pcs) + 0
}

//go:noinline
func outer(pcs []uintptr) int {
	n := middle(pcs)
	sink = pcs
	return n
}

func main() {
	pcs := make([]uintptr, 32)
	n := outer(pcs)
	for _, pc := range pcs[:n] {
		println("pc", pc)
	}
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		println("frame", f.PC, f.Function, f.File, f.Line)
		if !more {
			break
		}
	}
}
