package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"time"
)

func init() {
	register("bigalloc", "one 256 MiB allocation, every page written and summed", runBigAlloc)
	register("smallobjects", "200,000 small heap objects in a tree, then runtime.GC", runSmallObjects)
	register("gcpressure", "allocation churn with a small GOGC: many collections", runGCPressure)
	register("finalizer", "runtime.SetFinalizer runs after the object is unreachable", runFinalizer)
	register("recursion", "deep recursion (depth 50,000): goroutine stack growth", runRecursion)
	register("stackgoroutines", "100 goroutines each growing their stack", runStackGoroutines)
	register("memstats", "runtime.ReadMemStats and debug.FreeOSMemory", runMemStats)
}

func runBigAlloc(args []string) error {
	const size = 256 << 20
	buf := make([]byte, size)
	for i := 0; i < size; i += 4096 {
		buf[i] = byte(i >> 12)
	}
	sum := 0
	for i := 0; i < size; i += 4096 {
		sum += int(buf[i])
	}
	fmt.Printf("bigalloc: %d MiB, page sum %d, last byte %d\n", len(buf)>>20, sum, buf[size-1])
	if sum != 65536/256*(255*256/2) {
		return failf("sum %d", sum)
	}
	runtime.KeepAlive(buf)
	return nil
}

type treeNode struct {
	left, right *treeNode
	value       int
}

func buildTree(depth, value int) *treeNode {
	if depth == 0 {
		return &treeNode{value: value}
	}
	return &treeNode{buildTree(depth-1, 2*value), buildTree(depth-1, 2*value+1), value}
}

func (n *treeNode) count() int {
	if n == nil {
		return 0
	}
	return 1 + n.left.count() + n.right.count()
}

func runSmallObjects(args []string) error {
	var trees []*treeNode
	for i := 0; i < 12; i++ {
		trees = append(trees, buildTree(13, i))
	}
	strs := make([]string, 0, 20000)
	for i := 0; i < 20000; i++ {
		strs = append(strs, fmt.Sprint(i))
	}
	runtime.GC()
	total := 0
	for _, t := range trees {
		total += t.count()
	}
	fmt.Printf("smallobjects: %d tree nodes, %d strings, last %s\n", total, len(strs), strs[len(strs)-1])
	if total != 12*(1<<14-1) {
		return failf("total %d", total)
	}
	return nil
}

func runGCPressure(args []string) error {
	debug.SetGCPercent(10)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	keep := make([][]byte, 64)
	for i := 0; i < 20000; i++ {
		b := make([]byte, 1024+i%4096)
		b[0] = byte(i)
		keep[i%64] = b
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	fmt.Printf("gcpressure: kept %d buffers, collections happened %v\n", len(keep), after.NumGC > before.NumGC+1)
	if after.NumGC <= before.NumGC+1 {
		return failf("NumGC %d -> %d", before.NumGC, after.NumGC)
	}
	return nil
}

type resource struct{ id [16]int }

func runFinalizer(args []string) error {
	done := make(chan int, 1)
	func() {
		r := &resource{}
		r.id[0] = 42
		runtime.SetFinalizer(r, func(r *resource) { done <- r.id[0] })
	}()
	for i := 0; i < 500; i++ {
		runtime.GC()
		select {
		case id := <-done:
			fmt.Printf("finalizer: ran for resource %d\n", id)
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
	return failf("finalizer never ran")
}

//go:noinline
func recurse(n int) int {
	var pad [16]int
	pad[n%16] = n
	if n == 0 {
		return 0
	}
	return recurse(n-1) + 1 + pad[n%16] - n
}

func runRecursion(args []string) error {
	depth := recurse(50000)
	fmt.Printf("recursion: depth %d\n", depth)
	if depth != 50000 {
		return failf("depth %d", depth)
	}
	return nil
}

func runStackGoroutines(args []string) error {
	results := make(chan int, 100)
	for g := 0; g < 100; g++ {
		go func(g int) { results <- recurse(1000 + g*10) }(g)
	}
	sum := 0
	for g := 0; g < 100; g++ {
		sum += <-results
	}
	fmt.Printf("stackgoroutines: sum of depths %d\n", sum)
	if sum != 100*1000+10*4950 {
		return failf("sum %d", sum)
	}
	return nil
}

func runMemStats(args []string) error {
	var m runtime.MemStats
	data := make([][]byte, 100)
	for i := range data {
		data[i] = make([]byte, 64<<10)
	}
	runtime.ReadMemStats(&m)
	alloc := m.HeapAlloc
	data = nil
	runtime.GC()
	debug.FreeOSMemory()
	runtime.ReadMemStats(&m)
	fmt.Printf("memstats: heap shrank after GC %v, sys > 0 %v\n", m.HeapAlloc < alloc, m.Sys > 0)
	if m.HeapAlloc >= alloc {
		return failf("heap %d -> %d", alloc, m.HeapAlloc)
	}
	return nil
}
