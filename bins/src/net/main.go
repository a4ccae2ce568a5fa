// Command nettest exercises Go's net package on loopback inside one process: a TCP
// server and client on 127.0.0.1:0, a UDP echo, and a unix stream socket. Its output
// does not depend on the ports the kernel picks, so it can be compared with real runs.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func check(what string, err error) {
	if err != nil {
		fmt.Printf("%s: %v\n", what, err)
		os.Exit(1)
	}
}

// serve answers each line of every connection with the line in upper case.
func serve(ln net.Listener, done chan<- struct{}) {
	defer close(done)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				fmt.Println("accept:", err)
			}
			return
		}
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			fmt.Fprint(conn, strings.ToUpper(line))
		}
		conn.Close()
	}
}

func talk(network, addr string) {
	conn, err := net.DialTimeout(network, addr, 30*time.Second)
	check("dial", err)
	r := bufio.NewReader(conn)
	for _, word := range []string{"hello", "sockets"} {
		fmt.Fprintf(conn, "%s\n", word)
		reply, err := r.ReadString('\n')
		check("read", err)
		fmt.Printf("%s client got %q\n", network, reply)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		check("closewrite", tcp.CloseWrite())
		_, err := r.ReadString('\n')
		fmt.Println("tcp after half-close:", err)
	}
	conn.Close()
}

func tcp() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check("listen", err)
	addr := ln.Addr().(*net.TCPAddr)
	fmt.Println("tcp listening on", addr.IP, "port>0:", addr.Port > 0)
	done := make(chan struct{})
	go serve(ln, done)
	talk("tcp", addr.String())
	ln.Close()
	<-done
	_, err = net.DialTimeout("tcp", addr.String(), 30*time.Second)
	fmt.Println("dial closed port refused:", errors.Is(err, syscall.ECONNREFUSED))
}

func udp() {
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	check("listen udp", err)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.WriteTo([]byte(strings.ToUpper(string(buf[:n]))), from)
		}
	}()
	conn, err := net.Dial("udp", srv.LocalAddr().String())
	check("dial udp", err)
	for _, word := range []string{"datagram", "echo"} {
		_, err := conn.Write([]byte(word))
		check("udp write", err)
		buf := make([]byte, 64)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := conn.Read(buf)
		check("udp read", err)
		fmt.Printf("udp client got %q\n", buf[:n])
	}
	conn.Close()
	srv.Close()
}

func unix() {
	dir, err := os.MkdirTemp("", "nettest")
	check("tempdir", err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", path)
	check("listen unix", err)
	fmt.Println("unix listening on", filepath.Base(ln.Addr().String()))
	done := make(chan struct{})
	go serve(ln, done)
	talk("unix", path)
	ln.Close()
	<-done
	_, err = os.Stat(path)
	fmt.Println("unix socket removed on close:", errors.Is(err, os.ErrNotExist))
}

func socketpair() {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	check("socketpair", err)
	a := os.NewFile(uintptr(fds[0]), "a")
	b := os.NewFile(uintptr(fds[1]), "b")
	_, err = a.Write([]byte("pair"))
	check("pair write", err)
	buf := make([]byte, 16)
	n, err := b.Read(buf)
	check("pair read", err)
	fmt.Printf("socketpair got %q\n", buf[:n])
	a.Close()
	n, err = b.Read(buf)
	fmt.Println("socketpair after close:", n, err)
	b.Close()
}

func main() {
	tests := map[string]func(){"tcp": tcp, "udp": udp, "unix": unix, "socketpair": socketpair}
	names := os.Args[1:]
	if len(names) == 0 {
		names = []string{"tcp", "udp", "unix", "socketpair"}
	}
	for _, name := range names {
		if name == "listen" {
			// For --no-network: only try to listen and report what happened.
			_, err := net.Listen("tcp", "127.0.0.1:0")
			fmt.Println("listen:", err)
			continue
		}
		test, ok := tests[name]
		if !ok {
			fmt.Println("unknown test", name)
			os.Exit(2)
		}
		test()
	}
}
