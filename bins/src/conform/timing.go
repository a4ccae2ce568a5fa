package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// slack bounds how late a timer may fire: generous, because emulators and
// loaded machines are slow; early is always a failure.
const slack = 10 * time.Second

func init() {
	register("timer", "time.NewTimer, Stop before firing, Reset, fire", runTimer)
	register("timeafter", "time.After in a select racing a slower channel", runTimeAfter)
	register("ticker", "time.NewTicker: five ticks, then Stop", runTicker)
	register("afterfunc", "time.AfterFunc runs its function on another goroutine", runAfterFunc)
	register("ctxdeadline", "context.WithTimeout expires with DeadlineExceeded", runCtxDeadline)
	register("ctxcancel", "context cancellation propagates to child contexts", runCtxCancel)
	register("sleep", "time.Sleep accuracy: never early, within generous bounds", runSleep)
	register("timeformat", "time.Date arithmetic and formatting in UTC", runTimeFormat)
	register("manytimers", "1,000 goroutines each sleeping a different duration", runManyTimers)
}

func runTimer(args []string) error {
	t := time.NewTimer(time.Hour)
	stopped := t.Stop()
	start := time.Now()
	t.Reset(15 * time.Millisecond)
	<-t.C
	elapsed := time.Since(start)
	fmt.Printf("timer: stopped before firing %v, fired after reset\n", stopped)
	if !stopped || elapsed < 15*time.Millisecond || elapsed > slack {
		return failf("stopped %v elapsed %v", stopped, elapsed)
	}
	return nil
}

func runTimeAfter(args []string) error {
	slow := make(chan int)
	go func() { time.Sleep(30 * time.Second); close(slow) }()
	select {
	case <-time.After(10 * time.Millisecond):
		fmt.Println("timeafter: time.After won")
	case <-slow:
		return failf("the slow channel won")
	}
	return nil
}

func runTicker(args []string) error {
	start := time.Now()
	tk := time.NewTicker(10 * time.Millisecond)
	ticks := 0
	for range tk.C {
		ticks++
		if ticks == 5 {
			break
		}
	}
	tk.Stop()
	elapsed := time.Since(start)
	fmt.Printf("ticker: %d ticks\n", ticks)
	if elapsed < 50*time.Millisecond || elapsed > slack {
		return failf("elapsed %v", elapsed)
	}
	return nil
}

func runAfterFunc(args []string) error {
	var ran int32
	done := make(chan struct{})
	time.AfterFunc(5*time.Millisecond, func() { atomic.StoreInt32(&ran, 1); close(done) })
	cancelled := time.AfterFunc(time.Hour, func() { atomic.StoreInt32(&ran, 2) })
	<-done
	stopped := cancelled.Stop()
	fmt.Printf("afterfunc: ran %d, second stopped %v\n", atomic.LoadInt32(&ran), stopped)
	if atomic.LoadInt32(&ran) != 1 || !stopped {
		return failf("ran %d", ran)
	}
	return nil
}

func runCtxDeadline(args []string) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, hasDeadline := ctx.Deadline()
	<-ctx.Done()
	elapsed := time.Since(start)
	fmt.Printf("ctxdeadline: has deadline %v, err %v, is DeadlineExceeded %v\n",
		hasDeadline, ctx.Err(), errors.Is(ctx.Err(), context.DeadlineExceeded))
	if elapsed < 30*time.Millisecond || elapsed > slack {
		return failf("elapsed %v", elapsed)
	}
	return nil
}

func runCtxCancel(args []string) error {
	parent, cancel := context.WithCancel(context.Background())
	type key string
	child := context.WithValue(parent, key("k"), "v")
	grandchild, cancel2 := context.WithCancel(child)
	defer cancel2()
	results := make(chan error, 3)
	for _, c := range []context.Context{parent, child, grandchild} {
		go func(c context.Context) { <-c.Done(); results <- c.Err() }(c)
	}
	cancel()
	for i := 0; i < 3; i++ {
		if err := <-results; !errors.Is(err, context.Canceled) {
			return failf("err %v", err)
		}
	}
	fmt.Printf("ctxcancel: 3 contexts cancelled, value %v\n", grandchild.Value(key("k")))
	return nil
}

func runSleep(args []string) error {
	for _, d := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond} {
		start := time.Now()
		time.Sleep(d)
		elapsed := time.Since(start)
		if elapsed < d || elapsed > d+slack {
			return failf("sleep %v took %v", d, elapsed)
		}
		fmt.Printf("sleep: %v not early\n", d)
	}
	return nil
}

func runTimeFormat(args []string) error {
	t := time.Date(2024, time.February, 28, 23, 59, 30, 500, time.UTC)
	next := t.Add(36 * time.Hour)
	fmt.Printf("timeformat: %s\n", t.Format(time.RFC3339Nano))
	fmt.Printf("timeformat: +36h %s %s yearday %d\n", next.Format("2006-01-02 15:04:05"), next.Weekday(), next.YearDay())
	fmt.Printf("timeformat: unix %d, duration %v\n", t.Unix(), next.Sub(t)+1500*time.Millisecond)
	parsed, err := time.Parse(time.RFC1123, "Mon, 02 Jan 2006 15:04:05 UTC")
	if err != nil {
		return err
	}
	fmt.Printf("timeformat: parsed %d\n", parsed.Unix())
	return nil
}

func runManyTimers(args []string) error {
	done := make(chan int, 1000)
	start := time.Now()
	for i := 0; i < 1000; i++ {
		go func(i int) {
			time.Sleep(time.Duration(i%50) * time.Millisecond)
			done <- i
		}(i)
	}
	sum := 0
	for i := 0; i < 1000; i++ {
		sum += <-done
	}
	elapsed := time.Since(start)
	fmt.Printf("manytimers: all woke, sum %d\n", sum)
	if sum != 499500 || elapsed < 49*time.Millisecond || elapsed > slack {
		return failf("sum %d elapsed %v", sum, elapsed)
	}
	return nil
}
