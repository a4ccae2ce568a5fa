package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

func init() {
	register("goroutines1000", "1,000 goroutines each send on a channel; main sums", runGoroutines1000)
	register("chanbuffered", "buffered channel producer/consumer, close and range", runChanBuffered)
	register("pingpong", "10,000 round trips over two unbuffered channels", runPingPong)
	register("select", "select over several channels, default case, nil channels", runSelect)
	register("mutex", "sync.Mutex under contention from 64 goroutines", runMutex)
	register("rwmutex", "sync.RWMutex: concurrent readers, exclusive writers", runRWMutex)
	register("cond", "sync.Cond: bounded queue with Wait, Signal and Broadcast", runCond)
	register("atomic", "sync/atomic adds, CAS loops, Load/Store and Value", runAtomic)
	register("once", "sync.Once with 100 racing goroutines, sync.WaitGroup", runOnce)
	register("pool", "sync.Pool Get/Put from many goroutines", runPool)
	register("workers", "worker pool with a semaphore channel and results fan-in", runWorkers)
	register("pipeline", "three-stage pipeline of goroutines", runPipeline)
	register("preempt", "GOMAXPROCS(1): a spinning goroutine is preempted (SIGURG)", runPreempt)
	register("lockosthread", "runtime.LockOSThread goroutines on their own threads", runLockOSThread)
}

func runGoroutines1000(args []string) error {
	const n = 1000
	ch := make(chan int)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(v int) {
			defer wg.Done()
			ch <- v
		}(i)
	}
	go func() { wg.Wait(); close(ch) }()
	sum, count := 0, 0
	for v := range ch {
		sum += v
		count++
	}
	fmt.Printf("goroutines1000: received %d values, sum %d\n", count, sum)
	if count != n || sum != n*(n+1)/2 {
		return failf("count %d sum %d", count, sum)
	}
	return nil
}

func runChanBuffered(args []string) error {
	ch := make(chan int, 16)
	go func() {
		for i := 0; i < 10000; i++ {
			ch <- i
		}
		close(ch)
	}()
	sum := 0
	for v := range ch {
		sum += v
	}
	_, open := <-ch
	fmt.Printf("chanbuffered: sum %d, open after close %v, cap %d\n", sum, open, cap(ch))
	if sum != 49995000 || open {
		return failf("sum %d open %v", sum, open)
	}
	return nil
}

func runPingPong(args []string) error {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	v := 0
	for i := 0; i < 10000; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	_, ok := <-pong
	fmt.Printf("pingpong: value %d, pong closed %v\n", v, !ok)
	if v != 10000 || ok {
		return failf("value %d", v)
	}
	return nil
}

func runSelect(args []string) error {
	a, b, quit := make(chan int), make(chan int), make(chan struct{})
	go func() {
		for i := 0; i < 500; i++ {
			a <- 1
		}
	}()
	go func() {
		for i := 0; i < 300; i++ {
			b <- 2
		}
	}()
	var nilch chan int
	sumA, sumB := 0, 0
	for sumA+sumB < 1100 {
		select {
		case v := <-a:
			sumA += v
		case v := <-b:
			sumB += v
		case <-nilch:
			return failf("received from a nil channel")
		}
	}
	defaults := 0
	select {
	case <-quit:
		return failf("quit was never closed")
	default:
		defaults++
	}
	close(quit)
	select {
	case <-quit:
	default:
		return failf("closed channel not ready")
	}
	fmt.Printf("select: from a %d, from b %d, default taken %d\n", sumA, sumB, defaults)
	if sumA != 500 || sumB != 600 {
		return failf("sums %d %d", sumA, sumB)
	}
	return nil
}

func runMutex(args []string) error {
	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				mu.Lock()
				counter++
				if i%500 == 0 {
					runtime.Gosched()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("mutex: counter %d\n", counter)
	if counter != 128000 {
		return failf("counter %d", counter)
	}
	return nil
}

func runRWMutex(args []string) error {
	var mu sync.RWMutex
	data := map[int]int{}
	var wg sync.WaitGroup
	var badReads int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				mu.Lock()
				// Invariant while unlocked: data[k] == k*2 for every key.
				data[w*1000+i] = -1
				data[w*1000+i] = (w*1000 + i) * 2
				mu.Unlock()
			}
		}(w)
	}
	for r := 0; r < 16; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				mu.RLock()
				for k, v := range data {
					if v != k*2 {
						atomic.AddInt64(&badReads, 1)
					}
				}
				mu.RUnlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("rwmutex: %d entries, inconsistent reads %d\n", len(data), badReads)
	if len(data) != 2000 || badReads != 0 {
		return failf("entries %d bad %d", len(data), badReads)
	}
	return nil
}

func runCond(args []string) error {
	var mu sync.Mutex
	notEmpty, notFull := sync.NewCond(&mu), sync.NewCond(&mu)
	var queue []int
	const capacity, producers, perProducer = 4, 8, 250
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < perProducer; i++ {
				mu.Lock()
				for len(queue) == capacity {
					notFull.Wait()
				}
				queue = append(queue, p*perProducer+i)
				notEmpty.Signal()
				mu.Unlock()
			}
		}(p)
	}
	done := false
	go func() { wg.Wait(); mu.Lock(); done = true; notEmpty.Broadcast(); mu.Unlock() }()
	sum, count := 0, 0
	mu.Lock()
	for {
		for len(queue) == 0 && !done {
			notEmpty.Wait()
		}
		if len(queue) == 0 && done {
			break
		}
		sum += queue[0]
		queue = queue[1:]
		count++
		notFull.Broadcast()
	}
	mu.Unlock()
	n := producers * perProducer
	fmt.Printf("cond: consumed %d items, sum %d\n", count, sum)
	if count != n || sum != n*(n-1)/2 {
		return failf("count %d sum %d", count, sum)
	}
	return nil
}

func runAtomic(args []string) error {
	var add int64
	var cas int32
	var u64 uint64
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				atomic.AddInt64(&add, 3)
				atomic.AddUint64(&u64, 1<<33)
				for {
					old := atomic.LoadInt32(&cas)
					if atomic.CompareAndSwapInt32(&cas, old, old+1) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	var flag uint32
	atomic.StoreUint32(&flag, 7)
	swapped := atomic.SwapUint32(&flag, 9)
	var v atomic.Value
	v.Store("stored")
	fmt.Printf("atomic: add %d, cas %d, u64 %#x, swap %d->%d, value %v\n",
		add, cas, u64, swapped, atomic.LoadUint32(&flag), v.Load())
	if add != 96000 || cas != 32000 || u64 != 32000<<33 || swapped != 7 {
		return failf("add %d cas %d u64 %d", add, cas, u64)
	}
	return nil
}

func runOnce(args []string) error {
	var once sync.Once
	var calls int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < 100; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			once.Do(func() { atomic.AddInt32(&calls, 1) })
		}()
	}
	close(start)
	wg.Wait()
	fmt.Printf("once: function ran %d time(s)\n", calls)
	if calls != 1 {
		return failf("calls %d", calls)
	}
	return nil
}

func runPool(args []string) error {
	var created int32
	pool := sync.Pool{New: func() any { atomic.AddInt32(&created, 1); return new([64]byte) }}
	var wg sync.WaitGroup
	var total int64
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				buf := pool.Get().(*[64]byte)
				buf[0] = byte(g)
				atomic.AddInt64(&total, int64(len(buf)))
				pool.Put(buf)
			}
		}(g)
	}
	wg.Wait()
	fmt.Printf("pool: %d bytes handed out, objects created at least once %v\n", total, created > 0)
	if total != 16*1000*64 || created == 0 || created > 16000 {
		return failf("total %d created %d", total, created)
	}
	return nil
}

func runWorkers(args []string) error {
	jobs := make(chan int)
	results := make(chan int)
	sem := make(chan struct{}, 4)
	var active, maxActive int32
	var wg sync.WaitGroup
	for w := 0; w < 12; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				sem <- struct{}{}
				n := atomic.AddInt32(&active, 1)
				for {
					m := atomic.LoadInt32(&maxActive)
					if n <= m || atomic.CompareAndSwapInt32(&maxActive, m, n) {
						break
					}
				}
				r := j * j
				atomic.AddInt32(&active, -1)
				<-sem
				results <- r
			}
		}()
	}
	go func() {
		for i := 1; i <= 200; i++ {
			jobs <- i
		}
		close(jobs)
	}()
	go func() { wg.Wait(); close(results) }()
	sum := 0
	for r := range results {
		sum += r
	}
	fmt.Printf("workers: sum of squares 1..200 = %d, semaphore respected %v\n", sum, maxActive <= 4)
	if sum != 2686700 || maxActive > 4 {
		return failf("sum %d max %d", sum, maxActive)
	}
	return nil
}

func runPipeline(args []string) error {
	gen := func(n int) <-chan int {
		out := make(chan int)
		go func() {
			for i := 1; i <= n; i++ {
				out <- i
			}
			close(out)
		}()
		return out
	}
	stage := func(in <-chan int, f func(int) int) <-chan int {
		out := make(chan int, 3)
		go func() {
			for v := range in {
				out <- f(v)
			}
			close(out)
		}()
		return out
	}
	out := stage(stage(gen(1000), func(v int) int { return v * 3 }), func(v int) int { return v - 1 })
	sum, count := 0, 0
	for v := range out {
		sum += v
		count++
	}
	fmt.Printf("pipeline: %d values, sum %d\n", count, sum)
	if count != 1000 || sum != 3*500500-1000 {
		return failf("sum %d", sum)
	}
	return nil
}

func runPreempt(args []string) error {
	runtime.GOMAXPROCS(1)
	var stop int32
	started := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		started <- struct{}{}
		for atomic.LoadInt32(&stop) == 0 {
		}
		close(done)
	}()
	// main waits for the spinner to start; with one P, main can only run again
	// when the spinning goroutine, which never yields, is preempted
	// asynchronously (sysmon's signal, SIGURG).
	<-started
	atomic.StoreInt32(&stop, 1)
	<-done
	fmt.Println("preempt: main ran again while a goroutine spun")
	return nil
}

func runLockOSThread(args []string) error {
	var wg sync.WaitGroup
	results := make([]int, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			s := 0
			for i := 0; i <= 1000*g; i++ {
				s += i
			}
			time.Sleep(time.Millisecond)
			results[g] = s
		}(g)
	}
	wg.Wait()
	fmt.Printf("lockosthread: results %v\n", results)
	for g, s := range results {
		if s != 1000*g*(1000*g+1)/2 {
			return failf("goroutine %d: %d", g, s)
		}
	}
	return nil
}
