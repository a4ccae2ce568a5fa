// Command stack makes getppid system calls from known call chains and, just before
// each, prints the chain as the Go runtime itself sees it (runtime.CallersFrames):
// the oracle for elftrace's -k backtraces. Chains cover plain calls, inlined calls,
// a goroutine, a closure, an interface method, deep recursion (a grown, copied
// stack), a deferred call and a recovered panic.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
)

// probe prints its caller's frames, then makes the system call to compare.
//
//go:noinline
func probe(tag string) {
	pcs := make([]uintptr, 1024)
	n := runtime.Callers(2, pcs) // skip runtime.Callers and probe itself
	frames := runtime.CallersFrames(pcs[:n])
	var b strings.Builder
	fmt.Fprintf(&b, "probe %s\n", tag)
	for {
		f, more := frames.Next()
		fmt.Fprintf(&b, "%s %s:%d\n", f.Function, f.File, f.Line)
		if !more {
			break
		}
	}
	b.WriteString("end\n")
	os.Stderr.WriteString(b.String())
	syscall.Getppid()
}

//go:noinline
func plainA() { plainB() }

//go:noinline
func plainB() { probe("plain") }

func inlinedA() { inlinedB() } // small: inlined into main

func inlinedB() { probe("inlined") } // small: inlined into inlinedA

//go:noinline
func recurse(n int) int {
	var pad [256]byte // grow the stack
	pad[n%256] = byte(n)
	if n == 0 {
		probe("deep")
		return int(pad[0])
	}
	return recurse(n-1) + int(pad[n%256]&0)
}

type speaker interface{ speak() }

type dog struct{ name string }

//go:noinline
func (d *dog) speak() { probe("method") }

//go:noinline
func deferred() {
	defer probe("defer")
	fmt.Fprint(os.Stdout, "")
}

//go:noinline
func recovered() {
	defer func() {
		if r := recover(); r != nil {
			probe("recover")
		}
	}()
	var m map[string]int
	m["boom"] = 1
}

func main() {
	plainA()
	inlinedA()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		plainB()
	}()
	wg.Wait()
	f := func() { probe("closure") }
	f()
	var s speaker = &dog{"rex"}
	s.speak()
	recurse(200)
	deferred()
	recovered()
	fmt.Println("stack ok")
}
