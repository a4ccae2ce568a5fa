.intel_syntax noprefix
.text
.globl _start
# A SIGTERM handler that exits 42, "R" on stderr once it is installed, then one-byte
# writes to stdout for ever.
_start:
    sub rsp, 64
    lea rax, [rip + handler]
    mov [rsp], rax                      # sa_handler
    mov qword ptr [rsp + 8], 0x04000000 # sa_flags = SA_RESTORER
    lea rax, [rip + restorer]
    mov [rsp + 16], rax                 # sa_restorer
    mov qword ptr [rsp + 24], 0         # sa_mask
    mov edi, 15
    mov rsi, rsp
    xor edx, edx
    mov r10d, 8
    mov eax, 13                         # rt_sigaction(SIGTERM, &act, NULL, 8)
    syscall
    mov edi, 2
    lea rsi, [rip + ready]
    mov edx, 1
    mov eax, 1
    syscall
loop:
    mov edi, 1
    lea rsi, [rip + dot]
    mov edx, 1
    mov eax, 1
    syscall
    jmp loop
handler:
    mov edi, 42
    mov eax, 231
    syscall
restorer:
    mov eax, 15
    syscall
ready:
    .ascii "R"
dot:
    .ascii "."
