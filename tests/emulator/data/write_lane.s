.intel_syntax noprefix
.text
.globl _start
_start:
    sub rsp, 256
    mov r15, rsp
    lea r14, [rip + msg]
    xor r13, r13                  # result index
.macro WRITE fd, buf, count
    mov edi, \fd
    mov rsi, \buf
    mov edx, \count
    mov eax, 1
    syscall
    mov [r15 + r13 * 8], rax
    inc r13
.endm
.macro NEW_PAGE                      # r12 = mmap(NULL, 4096, RW, PRIVATE|ANONYMOUS)
    xor edi, edi
    mov esi, 4096
    mov edx, 3
    mov r10d, 0x22
    mov r8, -1
    xor r9d, r9d
    mov eax, 9
    syscall
    mov r12, rax
.endm
    WRITE 1, r14, 6
    WRITE 1, r14, 6
    lea rbx, [r14 + 2]
    WRITE 1, rbx, 3
    mov rbx, 0x10000000
    WRITE 1, rbx, 4
    WRITE 1, r14, 6
    WRITE 1, r14, 6
    WRITE 1, r14, 0
    # a fresh RW page holding "abc\n": written twice, unmapped, written again
    NEW_PAGE
    mov dword ptr [r12], 0x0a636261
    WRITE 1, r12, 4
    WRITE 1, r12, 4
    mov rdi, r12
    mov esi, 4096
    mov eax, 11
    syscall
    WRITE 1, r12, 4
    # another: written twice, made PROT_NONE, written again
    NEW_PAGE
    mov dword ptr [r12], 0x0a666564
    WRITE 1, r12, 4
    WRITE 1, r12, 4
    mov rdi, r12
    mov esi, 4096
    xor edx, edx
    mov eax, 10
    syscall
    WRITE 1, r12, 4
    # close stdout, write to it, dup stderr onto 1, write twice
    mov edi, 1
    mov eax, 3
    syscall
    WRITE 1, r14, 6
    mov edi, 2
    mov eax, 32
    syscall
    WRITE 1, r14, 6
    WRITE 1, r14, 6
    # the results to stderr, then exit(0)
    lea rdx, [r13 * 8]
    mov edi, 2
    mov rsi, r15
    mov eax, 1
    syscall
    xor edi, edi
    mov eax, 231
    syscall
msg:
    .ascii "hello\n"
