package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
)

func init() {
	register("tcp", "TCP echo server and clients on 127.0.0.1 in one process", runTCP)
}

func runTCP(args []string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 3; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				io.Copy(c, c)
			}(c)
		}
	}()
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		msg := fmt.Sprintf("message %d %s\n", i, strings.Repeat("x", i*1000))
		go c.Write([]byte(msg))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		c.(*net.TCPConn).CloseWrite()
		c.Close()
		fmt.Printf("tcp: client %d echoed %d bytes, same %v, local 127.0.0.1 %v\n", i, len(line), line == msg,
			strings.HasPrefix(c.LocalAddr().String(), "127.0.0.1:"))
	}
	wg.Wait()
	return nil
}
