// Command busy is elftrace's thread benchmark: CPU-bound work split across
// goroutines that never block.
//
// Usage: busy [GOROUTINES [MIB]] (defaults 8 and 16). MIB mebibytes of work
// (xorshift32 fill, then sha256, 1 MiB per chunk) are split evenly across
// GOROUTINES goroutines that all run at once. The output depends only on MIB,
// so "busy 1 16" and "busy 8 16" do the same work, serially and in parallel,
// and print the same digest. The program checks its first chunk against a
// known answer and prints "busy ok"; on a mismatch it prints FAIL to stderr
// and exits 1. Usage errors exit 2.
//
// The source must build with Go 1.19, so it only uses APIs available there.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"
)

const chunkSize = 1 << 20

// chunk0 is the sha256 of chunk 0 (seed 1), computed independently in Python.
const chunk0 = "0ecb850fce5b65a04282a0faa4bb46b985c9726dbca042e0bbc83a31f10f03ff"

func fill(buf []byte, x uint32) {
	for i := 0; i+4 <= len(buf); i += 4 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		binary.LittleEndian.PutUint32(buf[i:], x)
	}
}

func arg(i int, def int) int {
	if len(os.Args) <= i {
		return def
	}
	n, err := strconv.Atoi(os.Args[i])
	if err != nil || n < 1 {
		fmt.Fprintf(os.Stderr, "usage: busy [GOROUTINES [MIB]] (positive numbers)\n")
		os.Exit(2)
	}
	return n
}

func main() {
	workers := arg(1, 8)
	chunks := arg(2, 16)
	sums := make([][sha256.Size]byte, chunks)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]byte, chunkSize)
			for c := w; c < chunks; c += workers {
				fill(buf, uint32(c)+1)
				sums[c] = sha256.Sum256(buf)
			}
		}(w)
	}
	wg.Wait()
	total := sha256.New()
	for _, s := range sums {
		total.Write(s[:])
	}
	first := hex.EncodeToString(sums[0][:])
	fmt.Printf("busy: goroutines=%d MiB=%d chunk0=%s\n", workers, chunks, first)
	fmt.Printf("busy: sha256=%s\n", hex.EncodeToString(total.Sum(nil)))
	if first != chunk0 {
		fmt.Fprintf(os.Stderr, "busy FAIL: chunk 0 sha256 %s, want %s\n", first, chunk0)
		os.Exit(1)
	}
	fmt.Println("busy ok")
}
