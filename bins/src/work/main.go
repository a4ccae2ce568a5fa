// Command work is a multi-call test program for elftrace.
//
// The first argument selects a workload; see usage below and bins/README.md.
// Every workload prints deterministic output and checks its own results: the
// final "... ok" line is printed only if the checks passed, otherwise the
// program prints a "FAIL" line to stderr and exits 1. Usage errors exit 2.
//
// The source must build with both Go 1.19 and newer toolchains, so it only
// uses APIs available in Go 1.19.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

type workload struct {
	name string
	args string
	help string
	run  func(args []string) error
}

var workloads = []workload{
	{"goroutines", "", "100 goroutines fan in over channels + sync.WaitGroup; prints sums", runGoroutines},
	{"sleep", "", "time.Sleep(50ms) measured with time.Now/time.Since", runSleep},
	{"fileio", "", "temp dir, write/read/stat/readdir/rename/remove a file", runFileIO},
	{"nilpanic", "", "nil pointer dereference: runtime panic (SIGSEGV), exit status 2", runNilPanic},
	{"exit", "[CODE]", "print a line, then os.Exit(CODE) (default 3)", runExit},
	{"argsenv", "[ARG...]", "print the arguments and $ELFTRACE_TEST", runArgsEnv},
	{"cpu", "[N]", "N rounds (default 1) of xorshift fill of 16 MiB + sha256", runCPU},
	{"writes", "[N [FILE]]", "N (default 100000) one-byte writes to FILE (default /dev/null)", runWrites},
	{"stdin", "", "read stdin to EOF, print byte count and sha256", runStdin},
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: work WORKLOAD [ARGS...]\n\nworkloads:\n")
	for _, w := range workloads {
		fmt.Fprintf(os.Stderr, "  %-10s %-11s %s\n", w.name, w.args, w.help)
	}
	os.Exit(2)
}

// usageError marks errors that should exit with status 2 instead of 1.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	for _, w := range workloads {
		if w.name == os.Args[1] {
			if err := w.run(os.Args[2:]); err != nil {
				var ue usageError
				if errors.As(err, &ue) {
					fmt.Fprintf(os.Stderr, "work %s: %v\n", w.name, err)
					os.Exit(2)
				}
				fmt.Fprintf(os.Stderr, "%s FAIL: %v\n", w.name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "work: unknown workload %q\n", os.Args[1])
	usage()
}

// intArg parses args[i] as a non-negative int, or returns def if absent.
func intArg(args []string, i int, def int) (int, error) {
	if len(args) <= i {
		return def, nil
	}
	n, err := strconv.Atoi(args[i])
	if err != nil || n < 0 {
		return 0, usageError{fmt.Sprintf("bad number %q", args[i])}
	}
	return n, nil
}

// ---------------------------------------------------------------- goroutines

func runGoroutines(args []string) error {
	const n = 100

	// Fan-in: n goroutines each send i*i on an unbuffered channel; a closer
	// goroutine waits on the WaitGroup and closes the channel.
	ch := make(chan int)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ch <- i * i
		}(i)
	}
	go func() {
		wg.Wait()
		close(ch)
	}()
	sum, count := 0, 0
	for v := range ch {
		sum += v
		count++
	}
	fmt.Printf("goroutines: %d senders, sum of squares 1..%d = %d\n", count, n, sum)

	// Relay chain: n goroutines, each receives from its left neighbour,
	// adds 1 and passes the value on to its right neighbour.
	first := make(chan int)
	left := first
	for i := 0; i < n; i++ {
		right := make(chan int)
		go func(in <-chan int, out chan<- int) {
			out <- 1 + <-in
		}(left, right)
		left = right
	}
	first <- 0
	chain := <-left
	fmt.Printf("goroutines: relay chain of %d = %d\n", n, chain)

	// Mutex-protected counter incremented by n goroutines 1000 times each.
	var mu sync.Mutex
	counter := 0
	var wg2 sync.WaitGroup
	for i := 0; i < n; i++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for j := 0; j < 1000; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg2.Wait()
	fmt.Printf("goroutines: mutex counter = %d\n", counter)

	want := n * (n + 1) * (2*n + 1) / 6 // 338350
	if count != n || sum != want || chain != n || counter != n*1000 {
		return fmt.Errorf("got count=%d sum=%d chain=%d counter=%d, want %d %d %d %d",
			count, sum, chain, counter, n, want, n, n*1000)
	}
	fmt.Println("goroutines ok")
	return nil
}

// --------------------------------------------------------------------- sleep

func runSleep(args []string) error {
	const d = 50 * time.Millisecond
	start := time.Now()
	time.Sleep(d)
	elapsed := time.Since(start)
	if elapsed < d || elapsed >= 5*time.Second {
		return fmt.Errorf("slept %v, want >= %v and < 5s", elapsed, d)
	}
	fmt.Println("slept ok")
	return nil
}

// -------------------------------------------------------------------- fileio

func listDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func runFileIO(args []string) error {
	dir, err := os.MkdirTemp("", "elftrace-fileio-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Println("fileio: created temp dir")

	content := []byte("elftrace fileio test\nsecond line\n")
	a := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(a, content, 0o644); err != nil {
		return err
	}
	fmt.Printf("fileio: wrote a.txt (%d bytes)\n", len(content))

	got, err := os.ReadFile(a)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, content) {
		return fmt.Errorf("read back %q, want %q", got, content)
	}
	fmt.Printf("fileio: read back a.txt (%d bytes, matches)\n", len(got))

	st, err := os.Stat(a)
	if err != nil {
		return err
	}
	if st.Size() != int64(len(content)) || !st.Mode().IsRegular() {
		return fmt.Errorf("stat: size %d mode %v", st.Size(), st.Mode())
	}
	fmt.Printf("fileio: stat a.txt size=%d regular=%v\n", st.Size(), st.Mode().IsRegular())

	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		return err
	}
	names, err := listDir(dir)
	if err != nil {
		return err
	}
	fmt.Printf("fileio: readdir %v\n", names)
	if fmt.Sprint(names) != "[a.txt sub]" {
		return fmt.Errorf("readdir got %v", names)
	}

	b := filepath.Join(dir, "sub", "b.txt")
	if err := os.Rename(a, b); err != nil {
		return err
	}
	if _, err := os.Stat(a); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("a.txt still exists after rename (err=%v)", err)
	}
	subNames, err := listDir(filepath.Join(dir, "sub"))
	if err != nil {
		return err
	}
	fmt.Printf("fileio: renamed a.txt -> sub/b.txt, readdir sub %v\n", subNames)
	if fmt.Sprint(subNames) != "[b.txt]" {
		return fmt.Errorf("readdir sub got %v", subNames)
	}

	if err := os.Remove(b); err != nil {
		return err
	}
	subNames, err = listDir(filepath.Join(dir, "sub"))
	if err != nil {
		return err
	}
	fmt.Printf("fileio: removed sub/b.txt, readdir sub %v\n", subNames)
	if len(subNames) != 0 {
		return fmt.Errorf("sub not empty: %v", subNames)
	}

	// Leave something behind so RemoveAll has to recurse.
	if err := os.WriteFile(filepath.Join(dir, "sub", "c.txt"), []byte("c"), 0o600); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("temp dir still exists after RemoveAll (err=%v)", err)
	}
	fmt.Println("fileio: removed temp dir")
	fmt.Println("fileio ok")
	return nil
}

// ------------------------------------------------------------------ nilpanic

type node struct {
	next *node
	val  int
}

// nilNode is a package-level nil pointer, so the compiler cannot prove
// anything about it at the call site.
var nilNode *node

// readVal reads a field through n. With n == nil this faults (SIGSEGV at a
// small address) and the Go runtime turns the fault into a panic.
//
//go:noinline
func readVal(n *node) int {
	return n.val
}

func runNilPanic(args []string) error {
	fmt.Println("nilpanic: dereferencing nil pointer")
	v := readVal(nilNode)
	// Not reached.
	fmt.Printf("nilpanic: read %d through a nil pointer\n", v)
	return errors.New("nil pointer dereference did not panic")
}

// ---------------------------------------------------------------------- exit

func runExit(args []string) error {
	code, err := intArg(args, 0, 3)
	if err != nil {
		return err
	}
	if code > 255 {
		return usageError{fmt.Sprintf("exit code %d out of range 0..255", code)}
	}
	fmt.Printf("exit: exiting with status %d\n", code)
	os.Exit(code)
	return nil
}

// ------------------------------------------------------------------- argsenv

func runArgsEnv(args []string) error {
	fmt.Printf("argc=%d\n", len(os.Args))
	for i, a := range os.Args {
		fmt.Printf("argv[%d]=%s\n", i, a)
	}
	v, ok := os.LookupEnv("ELFTRACE_TEST")
	if !ok {
		v = "<unset>"
	}
	fmt.Printf("ELFTRACE_TEST=%s\n", v)
	if len(os.Args) < 2 || os.Args[1] != "argsenv" {
		return fmt.Errorf("os.Args[1] = %q", os.Args[1])
	}
	fmt.Println("argsenv ok")
	return nil
}

// ----------------------------------------------------------------------- cpu

const cpuBufSize = 16 << 20

// cpuRound1 is the sha256 of the buffer after the first round (seed
// 0x2545F491). Every run checks its first round against it.
const cpuRound1 = "0b7d2c7e72c686cb2824fba96dbdfa4769059fe351b096919018187c1b6669b7"

// fillXorshift fills buf with xorshift32 output (little endian) and returns
// the new generator state.
func fillXorshift(buf []byte, x uint32) uint32 {
	for i := 0; i+4 <= len(buf); i += 4 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		binary.LittleEndian.PutUint32(buf[i:], x)
	}
	return x
}

func runCPU(args []string) error {
	n, err := intArg(args, 0, 1)
	if err != nil {
		return err
	}
	if n < 1 {
		return usageError{"N must be >= 1"}
	}

	// Known-answer test of crypto/sha256 first.
	abc := sha256.Sum256([]byte("abc"))
	if hex.EncodeToString(abc[:]) != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		return fmt.Errorf("sha256(\"abc\") = %x", abc)
	}

	buf := make([]byte, cpuBufSize)
	state := uint32(0x2545F491)
	final := sha256.New()
	var first string
	for r := 0; r < n; r++ {
		state = fillXorshift(buf, state)
		sum := sha256.Sum256(buf)
		if r == 0 {
			first = hex.EncodeToString(sum[:])
		}
		final.Write(sum[:])
	}
	digest := hex.EncodeToString(final.Sum(nil))
	fmt.Printf("cpu: rounds=%d round1=%s\n", n, first)
	fmt.Printf("cpu: sha256=%s\n", digest)
	if first != cpuRound1 {
		return fmt.Errorf("round 1 sha256 %s, want %s", first, cpuRound1)
	}
	fmt.Println("cpu ok")
	return nil
}

// -------------------------------------------------------------------- writes

func runWrites(args []string) error {
	n, err := intArg(args, 0, 100000)
	if err != nil {
		return err
	}
	path := "/dev/null"
	if len(args) > 1 {
		path = args[1]
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	one := []byte{'x'}
	count := 0
	for i := 0; i < n; i++ {
		w, err := f.Write(one)
		if err != nil {
			f.Close()
			return fmt.Errorf("write %d: %v", i, err)
		}
		if w != 1 {
			f.Close()
			return fmt.Errorf("write %d: wrote %d bytes, want 1", i, w)
		}
		count += w
	}
	if err := f.Close(); err != nil {
		return err
	}
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Size() != int64(n) {
		return fmt.Errorf("%s has size %d after %d writes", path, st.Size(), n)
	}
	fmt.Printf("writes: %d\n", count)
	fmt.Println("writes ok")
	return nil
}

// --------------------------------------------------------------------- stdin

func runStdin(args []string) error {
	h := sha256.New()
	n, err := io.Copy(h, os.Stdin)
	if err != nil {
		return err
	}
	fmt.Printf("stdin: bytes=%d sha256=%x\n", n, h.Sum(nil))
	fmt.Println("stdin ok")
	return nil
}
