package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func runSignal(args []string) error {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGUSR2)
	pid := os.Getpid()
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGUSR1} {
		if err := syscall.Kill(pid, sig); err != nil {
			return err
		}
		select {
		case got := <-ch:
			fmt.Printf("signal: sent %v, received %v\n", sig, got)
		case <-time.After(10 * time.Second):
			return failf("%v never arrived", sig)
		}
	}
	signal.Stop(ch)
	p, _ := os.FindProcess(pid)
	if err := p.Signal(syscall.Signal(0)); err != nil {
		return failf("signal 0 to itself: %v", err)
	}
	fmt.Println("signal: signal 0 to itself succeeded")
	return nil
}

func runSigIgnore(args []string) error {
	signal.Ignore(syscall.SIGHUP)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		return err
	}
	time.Sleep(20 * time.Millisecond)
	fmt.Printf("sigignore: survived an ignored SIGHUP, ignored %v\n", signal.Ignored(syscall.SIGHUP))
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT)
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	got := <-ch
	fmt.Printf("sigignore: caught %v\n", got)
	signal.Reset(syscall.SIGHUP)
	fmt.Printf("sigignore: after Reset ignored %v\n", signal.Ignored(syscall.SIGHUP))
	return nil
}

func runSigTerm(args []string) error {
	fmt.Println("sigterm: sending SIGTERM to itself")
	os.Stdout.Sync()
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	time.Sleep(10 * time.Second)
	return failf("still alive")
}
