"""The Linux side of elftrace: syscall handlers and the kernel objects they act on.

No Unicorn here: handlers see guest memory and the CPU through the protocols in
:mod:`syscalls.context`, so they are tested against fakes. ``table_for(arch)`` gives
an architecture's number -> spec table.
"""

from __future__ import annotations
