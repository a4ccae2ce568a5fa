.intel_syntax noprefix
.text
.globl _start
_start:
    lea r14, [rip + msg]
    mov edi, -100
    lea rsi, [rip + path]
    mov edx, 0x241                # O_WRONLY|O_CREAT|O_TRUNC
    mov r10d, 0x1a4
    mov eax, 257
    syscall
    mov r12, rax
.macro WRITE
    mov rdi, r12
    mov rsi, r14
    mov edx, 6
    mov eax, 1
    syscall
.endm
    WRITE
    WRITE
    mov rdi, r12                  # lseek(fd, 0, SEEK_SET)
    xor esi, esi
    xor edx, edx
    mov eax, 8
    syscall
    WRITE                         # overwrites the first line
    mov rdi, r12                  # fcntl(fd, F_SETFL, O_APPEND)
    mov esi, 4
    mov edx, 0x400
    mov eax, 72
    syscall
    WRITE                         # appended
    WRITE
    xor edi, edi
    mov eax, 231
    syscall
msg:
    .ascii "hello\n"
path:
    .asciz "lane.out"
