"""Per-architecture syscall numbers, generated from the kernel's tables."""
