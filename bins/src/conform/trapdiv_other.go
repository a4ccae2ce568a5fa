//go:build !amd64

package main

// trapDivide is a plain Go division here: the compiler inserts the zero check
// (ARM has no divide trap), so the panic comes without a signal.
//
//go:noinline
func trapDivide(a, b int64) int64 { return a / b }

const divideTraps = "software check"
