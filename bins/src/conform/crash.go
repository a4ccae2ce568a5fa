package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
)

func init() {
	register("defer", "defers run last-in first-out and can change named results", runDefer)
	register("recover", "panic/recover with values and errors; re-panic inside defer", runRecover)
	register("nilmap", "write to a nil map: recovered runtime error", runNilMap)
	register("nilmappanic", "write to a nil map, not recovered: exit 2", runNilMapPanic)
	register("index", "out-of-range index and slice bounds: recovered runtime errors", runIndex)
	register("indexpanic", "out-of-range index, not recovered: exit 2", runIndexPanic)
	register("divzero", "integer divide by zero (SIGFPE on amd64): recovered", runDivZero)
	register("divzeropanic", "integer divide by zero, not recovered: exit 2", runDivZeroPanic)
	register("nilderef", "nil pointer dereference (SIGSEGV): recovered", runNilDeref)
	register("nilderefpanic", "nil pointer dereference, not recovered: exit 2", runNilDerefPanic)
	register("typeassert", "failed type assertion and closed-channel errors: recovered", runTypeAssert)
	register("goexit", "runtime.Goexit runs the goroutine's defers and ends it", runGoexit)
	register("goexitmain", "runtime.Goexit in main: fatal error once others finish", runGoexitMain)
	register("exit", "os.Exit(CODE) skips deferred calls", runExit)
	register("gopanic", "unrecovered panic in a goroutine kills the process: exit 2", runGoPanic)
	register("errorpanic", "panic with an error value, not recovered: exit 2", runErrorPanic)
	register("deadlock", "all goroutines asleep: the runtime's fatal error", runDeadlock)
}

func runDefer(args []string) error {
	var order []int
	func() {
		for i := 0; i < 5; i++ {
			defer func(i int) { order = append(order, i) }(i)
		}
	}()
	double := func() (r int) {
		defer func() { r *= 2 }()
		return 21
	}
	fmt.Printf("defer: order %v, named result %d\n", order, double())
	if fmt.Sprint(order) != "[4 3 2 1 0]" || double() != 42 {
		return failf("order %v", order)
	}
	return nil
}

func catch(f func()) (msg string) {
	defer func() {
		r := recover()
		var re runtime.Error
		if err, ok := r.(error); ok && errors.As(err, &re) {
			msg = "runtime.Error: " + re.Error()
		} else {
			msg = fmt.Sprintf("%T: %v", r, r)
		}
	}()
	f()
	return "no panic"
}

func runRecover(args []string) error {
	fmt.Println("recover:", catch(func() { panic("a string") }))
	fmt.Println("recover:", catch(func() { panic(fmt.Errorf("wrapped: %w", os.ErrNotExist)) }))
	fmt.Println("recover:", catch(func() { panic(42) }))
	fmt.Println("recover:", catch(func() {
		defer func() { panic(fmt.Sprint("second, after ", recover())) }()
		panic("first")
	}))
	fmt.Println("recover:", catch(func() {}))
	return nil
}

var nilMap map[string]int

func runNilMap(args []string) error {
	msg := catch(func() { nilMap["x"] = 1 })
	fmt.Println("nilmap:", msg)
	fmt.Println("nilmap: read from nil map gives", nilMap["x"])
	return nil
}

func runNilMapPanic(args []string) error {
	fmt.Println("nilmappanic: writing to a nil map")
	nilMap["x"] = 1
	return failf("no panic")
}

//go:noinline
func element(s []int, i int) int { return s[i] }

func runIndex(args []string) error {
	s := []int{1, 2, 3}
	fmt.Println("index:", catch(func() { element(s, 5) }))
	fmt.Println("index:", catch(func() { element(s, -1+len(s)-3) }))
	j := len(os.Args) + 10
	fmt.Println("index:", catch(func() { _ = s[1:j] }))
	fmt.Println("index:", catch(func() { _ = "abc"[j] }))
	var arr [4]int
	fmt.Println("index:", catch(func() { arr[j%8] = 1 }))
	return nil
}

func runIndexPanic(args []string) error {
	fmt.Println("indexpanic: indexing past the end")
	element([]int{1, 2, 3}, 5)
	return failf("no panic")
}

//go:noinline
func divide(a, b int) int { return a / b }

//go:noinline
func modulo32(a, b int32) int32 { return a % b }

func runDivZero(args []string) error {
	fmt.Println("divzero:", catch(func() { divide(7, 0) }))
	fmt.Printf("divzero: %s: %s\n", divideTraps, catch(func() { trapDivide(7, 0) }))
	fmt.Println("divzero:", catch(func() { modulo32(7, 0) }))
	fmt.Println("divzero: still running,", divide(-7, 2), modulo32(-7, 2), divide(-1<<31, -1))
	return nil
}

func runDivZeroPanic(args []string) error {
	fmt.Println("divzeropanic: dividing by zero")
	trapDivide(1, 0)
	return failf("no panic")
}

type node struct {
	next  *node
	value int
}

var nilNode *node

//go:noinline
func valueOf(n *node) int { return n.value }

func runNilDeref(args []string) error {
	fmt.Println("nilderef:", catch(func() { valueOf(nilNode) }))
	fmt.Println("nilderef:", catch(func() { nilNode.next = nil }))
	var f func()
	fmt.Println("nilderef:", catch(func() { f() }))
	fmt.Println("nilderef: still running")
	return nil
}

func runNilDerefPanic(args []string) error {
	fmt.Println("nilderefpanic: dereferencing nil")
	valueOf(nilNode)
	return failf("no panic")
}

func runTypeAssert(args []string) error {
	var v any = "text"
	fmt.Println("typeassert:", catch(func() { _ = v.(int) }))
	_, ok := v.(fmt.Stringer)
	fmt.Println("typeassert: comma-ok assertion", ok)
	ch := make(chan int)
	close(ch)
	fmt.Println("typeassert:", catch(func() { ch <- 1 }))
	fmt.Println("typeassert:", catch(func() { close(ch) }))
	var nilch chan int
	fmt.Println("typeassert:", catch(func() { close(nilch) }))
	return nil
}

func runGoexit(args []string) error {
	var wg sync.WaitGroup
	var trail []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { trail = append(trail, "deferred ran, recover="+fmt.Sprint(recover())) }()
		func() {
			runtime.Goexit()
		}()
		trail = append(trail, "unreachable")
	}()
	wg.Wait()
	fmt.Printf("goexit: %v\n", trail)
	if len(trail) != 1 {
		return failf("trail %v", trail)
	}
	return nil
}

func runGoexitMain(args []string) error {
	done := make(chan struct{})
	go func() {
		<-done
		fmt.Println("goexitmain: other goroutine finished")
	}()
	defer close(done)
	defer fmt.Println("goexitmain: main's defers run")
	runtime.Goexit()
	return failf("Goexit returned")
}

func runExit(args []string) error {
	code := 3
	if len(args) > 0 {
		c, err := strconv.Atoi(args[0])
		if err != nil || c < 0 || c > 255 {
			fmt.Fprintf(os.Stderr, "exit: bad code %q\n", args[0])
			os.Exit(2)
		}
		code = c
	}
	defer fmt.Println("exit: this deferred line must not appear")
	fmt.Printf("exit: exiting with status %d\n", code)
	os.Exit(code)
	return nil
}

func runGoPanic(args []string) error {
	block := make(chan struct{})
	fmt.Println("gopanic: waiting for a goroutine that panics")
	go func() {
		panic("boom in a goroutine")
	}()
	<-block
	return failf("main woke up")
}

type customError struct{ code int }

func (e *customError) Error() string { return fmt.Sprintf("custom error %d", e.code) }

func runErrorPanic(args []string) error {
	fmt.Println("errorpanic: panicking with an error value")
	panic(&customError{17})
}

func runDeadlock(args []string) error {
	fmt.Println("deadlock: receiving on a channel nobody sends to")
	var mu sync.Mutex
	mu.Lock()
	ch := make(chan int)
	go func() { mu.Lock(); ch <- 1 }()
	<-ch
	return failf("received")
}
