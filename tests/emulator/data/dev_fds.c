/* /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N name the program's own
 * descriptors: after dup2 they follow it, and a pipe opened through them is the same
 * pipe (a new description of it). tests/emulator/test_dev_fds.py compares the output
 * with the native run's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void say(const char *what, int fd) {
    if (fd < 0)
        printf("%s: errno %s\n", what, strerror(errno));
    else
        printf("%s: ok\n", what);
    fflush(stdout);
}

int main(int argc, char **argv) {
    char path[64], buf[64];
    int p[2];
    if (argc < 2 || pipe(p) != 0)
        return 2;

    /* stdout and stderr moved onto files: /dev/stdout and /dev/stderr follow them. */
    int saved = dup(1);
    int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(out, 2);
    int dev = open("/dev/stdout", O_WRONLY | O_APPEND);
    write(dev, "via /dev/stdout\n", 16);
    close(dev);
    dev = open("/dev/stderr", O_WRONLY | O_APPEND);
    write(dev, "via /dev/stderr\n", 16);
    close(dev);
    dup2(saved, 1);
    close(saved);

    /* The pipe's write end through /dev/fd/N, its read end through /proc/self/fd/N. */
    snprintf(path, sizeof path, "/dev/fd/%d", p[1]);
    int w = open(path, O_WRONLY);
    say("open write end", w);
    write(w, "through the pipe", 16);
    close(w);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    int r = open(path, O_RDONLY);
    say("open read end", r);
    ssize_t n = read(r, buf, sizeof buf);
    printf("read %zd: %.*s\n", n, (int)(n > 0 ? n : 0), buf);

    /* A socket cannot be opened that way. */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    snprintf(path, sizeof path, "/proc/self/fd/%d", sv[0]);
    say("open socket", open(path, O_RDWR));

    /* No reader left: unlike a FIFO's, a pipe's open does not care. */
    close(p[0]);
    close(r);
    snprintf(path, sizeof path, "/dev/fd/%d", p[1]);
    say("open write end, no reader", open(path, O_WRONLY | O_NONBLOCK));

    /* stdin is the test's pipe: /dev/stdin is a new description of it. */
    int in = open("/dev/stdin", O_RDONLY);
    say("open /dev/stdin", in);
    n = read(in, buf, sizeof buf);
    printf("stdin %zd: %.*s", n, (int)(n > 0 ? n : 0), buf);
    return 0;
}
