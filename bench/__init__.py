"""elftrace's benchmark against native runs, qemu-user and a bare Unicorn engine."""
