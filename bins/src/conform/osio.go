package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

func init() {
	register("tempdir", "os.MkdirTemp, files and subdirectories, ReadDir, RemoveAll", runTempDir)
	register("rename", "create, rename over an existing file, remove; ENOENT errors", runRename)
	register("stat", "Stat/Lstat/Fstat of files, directories and /dev/null", runStat)
	register("symlink", "Symlink, Readlink, Lstat vs Stat, EvalSymlinks, dangling links", runSymlink)
	register("filemode", "Chmod, O_EXCL, permission bits, Truncate, Chtimes", runFileMode)
	register("seek", "Seek, ReadAt/WriteAt, O_APPEND and sparse files", runSeek)
	register("pipe", "os.Pipe: 1 MiB through a reader goroutine (the netpoller)", runPipe)
	register("pipedeadline", "read deadline on an os.Pipe times out (netpoller timers)", runPipeDeadline)
	register("sigpipe", "writing to a pipe with no reader gives EPIPE", runSigPipe)
	register("signal", "os/signal.Notify with SIGUSR1/SIGUSR2 sent to itself", runSignal)
	register("sigignore", "signal.Ignore and signal.Reset of SIGHUP, SIGINT caught", runSigIgnore)
	register("sigterm", "SIGTERM to itself without a handler: killed (default action)", runSigTerm)
	register("getwd", "os.Getwd, os.Chdir into a temp dir and back, relative paths", runGetwd)
	register("env", "Getenv, Setenv, Unsetenv, LookupEnv, Environ, ExpandEnv", runEnv)
	register("args", "prints os.Args after argv[0]", runArgs)
	register("stdin", "reads stdin to EOF: lines, bytes, crc32", runStdin)
	register("readfile", "bufio line scanning of a generated file; io.Copy; io.MultiReader", runReadFile)
	register("exec", "os/exec of /bin/true (needs a second process)", runExec)
}

func runTempDir(args []string) error {
	dir, err := os.MkdirTemp("", "conform-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, sub := range []string{"b", "a/deep/er"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	for i, name := range []string{"z.txt", "a/one.txt", "a/deep/two.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte{'x'}, i*10), 0o644); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		fmt.Printf("tempdir: entry %s dir=%v\n", e.Name(), e.IsDir())
	}
	var walked []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		walked = append(walked, rel)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("tempdir: walk %v\n", walked)
	if err := os.Remove(filepath.Join(dir, "a")); err == nil {
		return failf("removed a non-empty directory")
	} else {
		fmt.Printf("tempdir: remove non-empty dir: %v\n", errors.Unwrap(err))
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	_, err = os.Stat(dir)
	fmt.Printf("tempdir: gone after RemoveAll %v\n", errors.Is(err, fs.ErrNotExist))
	return nil
}

func runRename(args []string) error {
	dir, err := os.MkdirTemp("", "conform-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, []byte("first"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(b, []byte("second"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(a, b); err != nil {
		return err
	}
	data, err := os.ReadFile(b)
	if err != nil {
		return err
	}
	_, errA := os.Stat(a)
	fmt.Printf("rename: b now holds %q, a exists %v\n", data, !errors.Is(errA, fs.ErrNotExist))
	err = os.Rename(a, filepath.Join(dir, "c"))
	var linkErr *os.LinkError
	fmt.Printf("rename: missing source: LinkError %v, errno %v\n", errors.As(err, &linkErr), errors.Unwrap(err))
	if err := os.Remove(b); err != nil {
		return err
	}
	err = os.Remove(b)
	var pathErr *fs.PathError
	fmt.Printf("rename: second remove: PathError %v op %s, not exist %v\n", errors.As(err, &pathErr), pathErr.Op,
		os.IsNotExist(err))
	_, err = os.Open(filepath.Join(dir, "missing", "file"))
	fmt.Printf("rename: open in missing dir: %v\n", errors.Unwrap(err))
	return nil
}

func runStat(args []string) error {
	dir, err := os.MkdirTemp("", "conform-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, make([]byte, 12345), 0o640); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o640); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Printf("stat: file size %d mode %v regular %v dir %v\n", fi.Size(), fi.Mode(), fi.Mode().IsRegular(), fi.IsDir())
	age := time.Since(fi.ModTime())
	if age < -time.Minute || age > time.Hour {
		return failf("mtime %v away", age)
	}
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	fmt.Printf("stat: dir mode %v\n", di.Mode())
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ff, err := f.Stat()
	if err != nil {
		return err
	}
	st := ff.Sys().(*syscall.Stat_t)
	fmt.Printf("stat: fstat same file %v, nlink %d, blocks > 0 %v\n", os.SameFile(fi, ff), st.Nlink, st.Blocks > 0)
	ni, err := os.Stat("/dev/null")
	if err != nil {
		return err
	}
	fmt.Printf("stat: /dev/null mode %v char device %v\n", ni.Mode()&^fs.ModePerm, ni.Mode()&fs.ModeCharDevice != 0)
	return nil
}

func runSymlink(args []string) error {
	dir, err := os.MkdirTemp("", "conform-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("data"), 0o644); err != nil {
		return err
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("target", link); err != nil {
		return err
	}
	dest, err := os.Readlink(link)
	if err != nil {
		return err
	}
	li, err := os.Lstat(link)
	if err != nil {
		return err
	}
	si, err := os.Stat(link)
	if err != nil {
		return err
	}
	fmt.Printf("symlink: readlink %q, lstat symlink %v, stat size %d\n", dest, li.Mode()&fs.ModeSymlink != 0, si.Size())
	real, err := filepath.EvalSymlinks(link)
	if err != nil {
		return err
	}
	realTarget, _ := filepath.EvalSymlinks(target)
	fmt.Printf("symlink: EvalSymlinks reaches the target %v\n", real == realTarget)
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink("nowhere", dangling); err != nil {
		return err
	}
	_, err = os.Stat(dangling)
	_, lerr := os.Lstat(dangling)
	fmt.Printf("symlink: dangling stat not exist %v, lstat ok %v\n", os.IsNotExist(err), lerr == nil)
	err = os.Symlink("x", link)
	fmt.Printf("symlink: over an existing name: exists %v\n", os.IsExist(err))
	_, err = os.Readlink(target)
	fmt.Printf("symlink: readlink of a file: %v\n", errors.Unwrap(err))
	return nil
}

func runFileMode(args []string) error {
	dir, err := os.MkdirTemp("", "conform-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "f")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	f.WriteString("0123456789")
	f.Close()
	_, err = os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	fmt.Printf("filemode: O_EXCL on existing file: exists %v\n", os.IsExist(err))
	for _, mode := range []fs.FileMode{0o755, 0o600, 0o444, 0o4711 & fs.ModePerm} {
		if err := os.Chmod(path, mode); err != nil {
			return err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		fmt.Printf("filemode: chmod %o -> %v\n", mode, fi.Mode())
	}
	os.Chmod(path, 0o644)
	if err := os.Truncate(path, 4); err != nil {
		return err
	}
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(path, when, when); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Printf("filemode: truncated size %d, mtime %s\n", fi.Size(), fi.ModTime().UTC().Format(time.RFC3339))
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o700); err != nil {
		return err
	}
	di, _ := os.Stat(filepath.Join(dir, "d"))
	fmt.Printf("filemode: mkdir 0700 -> %v\n", di.Mode())
	return nil
}

func runSeek(args []string) error {
	f, err := os.CreateTemp("", "conform-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	f.WriteString("hello, world")
	pos, _ := f.Seek(-5, io.SeekEnd)
	buf := make([]byte, 5)
	n, _ := f.Read(buf)
	fmt.Printf("seek: at %d read %q\n", pos, buf[:n])
	f.WriteAt([]byte("HELLO"), 0)
	f.ReadAt(buf, 0)
	cur, _ := f.Seek(0, io.SeekCurrent)
	fmt.Printf("seek: ReadAt %q, position unchanged %d\n", buf, cur)
	f.Seek(1<<20, io.SeekStart)
	f.Write([]byte("!"))
	fi, _ := f.Stat()
	hole := make([]byte, 4)
	f.ReadAt(hole, 1000)
	fmt.Printf("seek: sparse size %d, hole reads %v\n", fi.Size(), hole)
	n, err = f.Read(buf)
	fmt.Printf("seek: read at EOF %d %v\n", n, err)
	a, err := os.OpenFile(f.Name(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	a.Seek(0, io.SeekStart)
	a.Write([]byte("END"))
	a.Close()
	fi, _ = f.Stat()
	fmt.Printf("seek: O_APPEND writes at the end: size %d\n", fi.Size())
	return nil
}

func runPipe(args []string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	type result struct {
		n   int64
		sum uint32
		err error
	}
	done := make(chan result)
	go func() {
		h := crc32.NewIEEE()
		n, err := io.Copy(h, r)
		done <- result{n, h.Sum32(), err}
		return
	}()
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for off := 0; off < len(data); off += 10000 {
		end := off + 10000
		if end > len(data) {
			end = len(data)
		}
		if _, err := w.Write(data[off:end]); err != nil {
			return err
		}
	}
	w.Close()
	res := <-done
	r.Close()
	fmt.Printf("pipe: read %d bytes, crc32 matches %v, err %v\n", res.n, res.sum == crc32.ChecksumIEEE(data), res.err)
	return nil
}

func runPipeDeadline(args []string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer w.Close()
	defer r.Close()
	if err := r.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		return err
	}
	buf := make([]byte, 1)
	_, err = r.Read(buf)
	fmt.Printf("pipedeadline: read timed out %v\n", errors.Is(err, os.ErrDeadlineExceeded))
	r.SetReadDeadline(time.Time{})
	go func() { time.Sleep(10 * time.Millisecond); w.Write([]byte("z")) }()
	n, err := r.Read(buf)
	fmt.Printf("pipedeadline: then read %d %q %v\n", n, buf[:n], err)
	return nil
}

func runSigPipe(args []string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	r.Close()
	_, err = w.Write([]byte("nobody listens"))
	fmt.Printf("sigpipe: write error is EPIPE %v\n", errors.Is(err, syscall.EPIPE))
	w.Close()
	return nil
}

func runGetwd(args []string) error {
	orig, err := os.Getwd()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "conform-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chdir(dir); err != nil {
		return err
	}
	os.Mkdir("sub", 0o755)
	os.WriteFile("sub/rel.txt", []byte("relative"), 0o644)
	if err := os.Chdir("sub"); err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	realDir, _ := filepath.EvalSymlinks(dir)
	data, err := os.ReadFile("rel.txt")
	if err != nil {
		return err
	}
	fmt.Printf("getwd: in temp/sub %v, relative read %q\n", wd == filepath.Join(realDir, "sub") || wd == filepath.Join(dir, "sub"), data)
	err = os.Chdir("does-not-exist")
	fmt.Printf("getwd: chdir to missing: %v\n", errors.Unwrap(err))
	if err := os.Chdir(orig); err != nil {
		return err
	}
	back, _ := os.Getwd()
	fmt.Printf("getwd: back where it started %v\n", back == orig)
	return nil
}

func runEnv(args []string) error {
	fmt.Printf("env: ELFTRACE_TEST=%q\n", os.Getenv("ELFTRACE_TEST"))
	_, ok := os.LookupEnv("CONFORM_UNSET")
	fmt.Printf("env: CONFORM_UNSET set %v\n", ok)
	os.Setenv("CONFORM_NEW", "fresh value")
	os.Setenv("ELFTRACE_TEST", "changed")
	os.Unsetenv("PATH")
	var ours []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CONFORM_") || strings.HasPrefix(kv, "ELFTRACE_") || strings.HasPrefix(kv, "PATH=") {
			ours = append(ours, kv)
		}
	}
	sort.Strings(ours)
	fmt.Printf("env: environ %q\n", ours)
	fmt.Printf("env: expand %s\n", os.ExpandEnv("[$CONFORM_NEW] [${ELFTRACE_TEST}] [$NOPE]"))
	return nil
}

func runArgs(args []string) error {
	fmt.Printf("args: %d after the subcommand\n", len(args))
	for i, a := range args {
		fmt.Printf("args: [%d] %q\n", i, a)
	}
	return nil
}

func runStdin(args []string) error {
	h := crc32.NewIEEE()
	sc := bufio.NewReader(io.TeeReader(os.Stdin, h))
	lines, total := 0, 0
	for {
		line, err := sc.ReadString('\n')
		total += len(line)
		if len(line) > 0 && line[len(line)-1] == '\n' {
			lines++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	fmt.Printf("stdin: %d bytes, %d lines, crc32 %08x\n", total, lines, h.Sum32())
	return nil
}

func runReadFile(args []string) error {
	f, err := os.CreateTemp("", "conform-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriter(f)
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(bw, "line %d %s\n", i, strings.Repeat("=", i%40))
	}
	bw.Flush()
	f.Close()
	g, err := os.Open(f.Name())
	if err != nil {
		return err
	}
	defer g.Close()
	sc := bufio.NewScanner(g)
	count, longest := 0, 0
	for sc.Scan() {
		count++
		if len(sc.Text()) > longest {
			longest = len(sc.Text())
		}
	}
	g.Seek(0, io.SeekStart)
	var out bytes.Buffer
	n, err := io.Copy(&out, io.MultiReader(strings.NewReader("head\n"), g))
	fmt.Printf("readfile: %d lines, longest %d, copied %d bytes %v\n", count, longest, n, err)
	return nil
}

func runExec(args []string) error {
	out, err := exec.Command("/bin/echo", "from", "a", "child").Output()
	if err != nil {
		return err
	}
	fmt.Printf("exec: child said %q\n", out)
	return nil
}
