#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;

static void report(const char *what, int st) {
    if (WIFEXITED(st)) printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) printf("%s: killed by %d\n", what, WTERMSIG(st));
    else printf("%s: status %#x\n", what, st);
}

static pid_t spawn(char **argv, int in, int out) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in >= 0) posix_spawn_file_actions_adddup2(&fa, in, 0);
    if (out >= 0) posix_spawn_file_actions_adddup2(&fa, out, 1);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) { printf("spawn %s: %s\n", argv[0], strerror(rc)); return -1; }
    return pid;
}

static void drain(int fd, const char *what) {
    char buf[256];
    ssize_t n, total = 0;
    while ((n = read(fd, buf + total, sizeof buf - 1 - total)) > 0) total += n;
    buf[total] = 0;
    printf("%s read %zd: %s", what, total, buf);
}

int main(int argc, char **argv) {
    int st, p[2], q[2];
    setvbuf(stdout, NULL, _IONBF, 0);
    /* stdout through a pipe, an exit status */
    pipe2(p, O_CLOEXEC);
    char *sh1[] = {"/bin/sh", "-c", "echo out; exit 3", NULL};
    pid_t pid = spawn(sh1, -1, p[1]);
    close(p[1]);
    drain(p[0], "sh");
    close(p[0]);
    waitpid(pid, &st, 0);
    report("sh", st);
    /* stdin and stdout pipes: cat copies */
    pipe2(p, O_CLOEXEC);
    pipe2(q, O_CLOEXEC);
    char *cat[] = {"/bin/cat", NULL};
    pid = spawn(cat, p[0], q[1]);
    close(p[0]);
    close(q[1]);
    write(p[1], "through cat\n", 12);
    close(p[1]);
    drain(q[0], "cat");
    close(q[0]);
    waitpid(pid, &st, 0);
    report("cat", st);
    /* the child holds the parent's description of the pipe's read end: O_NONBLOCK set
       on it after the spawn is the child's too, and its cat fails with EAGAIN */
    pipe2(p, O_CLOEXEC);
    char *late[] = {"/bin/sh", "-c", "/bin/sleep 1; /bin/cat 2>/dev/null; exit $?", NULL};
    pid = spawn(late, p[0], -1);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    waitpid(pid, &st, 0);
    report("nonblocking cat", st);
    close(p[0]);
    close(p[1]);
    /* a missing program: posix_spawn reports execve's errno */
    char *missing[] = {"/nonexistent/prog", NULL};
    spawn(missing, -1, -1);
    /* a child that kills itself; one killed by its parent */
    char *selfkill[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
    pid = spawn(selfkill, -1, -1);
    waitpid(pid, &st, 0);
    report("selfkill", st);
    char *sleeper[] = {"/bin/sleep", "30", NULL};
    pid = spawn(sleeper, -1, -1);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    report("sleep", st);
    /* an inherited fd beyond stdio, and a #! script */
    if (argc > 1) {
        int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 5);
        close(fd);
        char *five[] = {"/bin/sh", "-c", "echo to five >&5", NULL};
        pid = spawn(five, -1, -1);
        waitpid(pid, &st, 0);
        report("five", st);
        close(5);
        fd = open(argv[1], O_RDONLY);
        drain(fd, "file");
        close(fd);
    }
    if (argc > 2) {
        char *script[] = {argv[2], "arg1", NULL};
        pid = spawn(script, -1, -1);
        waitpid(pid, &st, 0);
        report("script", st);
    }
    return 0;
}
