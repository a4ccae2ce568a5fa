/* fork(2) children, compared with the real machine by tests/emulator/test_exec.py: a copy
   of memory (globals, heap), a pipe both hold, pids, exit codes, a child killed by its
   parent and one dying of its own fault, and a shell pipeline (which forks). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int counter = 10;

static void report(const char *what, int st) {
    if (WIFEXITED(st)) printf("%s: exited %d\n", what, WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) printf("%s: killed by %d\n", what, WTERMSIG(st));
    else printf("%s: status %#x\n", what, st);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int p[2], st;
    pipe(p);
    char *heap = malloc(64);
    strcpy(heap, "parent heap");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        counter += 5;
        strcpy(heap, "child heap");
        char msg[128];
        int n = snprintf(msg, sizeof msg, "child: counter=%d %s own-pid=%d parent-ok=%d\n",
                         counter, heap, getpid() != parent, getppid() == parent);
        write(p[1], msg, n);
        _exit(7);
    }
    close(p[1]);
    char buf[128];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("parent got: %s", buf);
    printf("parent read after the child's exit: %zd\n", read(p[0], buf, sizeof buf));
    printf("wait: same pid=%d\n", waitpid(pid, &st, 0) == pid);
    printf("parent: counter=%d %s\n", counter, heap);
    report("first child", st);
    pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    report("paused child", st);
    pid = fork();
    if (pid == 0) {
        volatile int *nowhere = 0;
        *nowhere = 1;
        _exit(0);
    }
    waitpid(pid, &st, 0);
    report("faulting child", st);
    fflush(stdout);
    report("pipeline", system("echo one two three | /bin/wc -w; echo $(/bin/echo substituted)"));
    return 0;
}
