// Command hello prints "hello world" and exits 0.
//
// It is the smallest sample program for elftrace: one write(2) to stdout
// on top of the Go runtime's start-up (TLS, signal handlers, threads).
package main

import "fmt"

func main() {
	fmt.Println("hello world")
}
