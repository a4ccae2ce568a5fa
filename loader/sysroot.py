"""Sysroots: where a dynamically linked guest finds its interpreter and libraries.

As qemu-user's ``-L``: the sysroot is a host directory laid out like the guest's root
(Debian's ``libc6-<arch>-cross`` packages install one under ``/usr/<triplet>``). The
interpreter named by PT_INTERP is read from inside it, and guest paths resolve there
first (see :class:`syscalls.kernel.paths.SysrootPaths`). Each Arch names its default
as data (:class:`SysrootDefault`): the host's own root when the host runs that
architecture natively, the cross package's directory otherwise.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

from loader.errors import LoaderError


class MissingSysroot(LoaderError):
    """No sysroot, or no interpreter inside it, for a dynamically linked guest."""


@dataclass(frozen=True, slots=True)
class SysrootDefault:
    """Where an architecture's guest root is when the user names none."""

    native_machines: tuple[str, ...]
    """``platform.machine()`` values of hosts whose own root serves this guest."""
    cross_root: str
    """The directory Debian's cross libc package installs (``/usr/<triplet>``)."""
    package: str
    """The Debian package that provides ``cross_root`` and its ld.so."""


def default_sysroot(default: SysrootDefault, host_machine: str | None = None) -> str:
    """The host root on a native host, else the cross package's directory."""
    machine = host_machine if host_machine is not None else platform.machine()
    return "/" if machine in default.native_machines else default.cross_root


def inside(sysroot: str, guest_abs: str) -> str:
    """The host path of ``guest_abs`` (absolute, normalised) under ``sysroot``."""
    if sysroot in ("", "/"):
        return guest_abs
    return os.path.join(sysroot, guest_abs.lstrip("/"))


def resolve_in_sysroot(sysroot: str, guest_abs: str) -> str:
    """qemu-user's ``-L`` rule: the path inside the sysroot if it exists there, else the
    host's own path (so /dev, /proc, /tmp keep working)."""
    candidate = inside(sysroot, guest_abs)
    if candidate != guest_abs and os.path.lexists(candidate):
        return candidate
    return guest_abs


def find_interpreter(requested: str | None, default: SysrootDefault, interp: str,
                     program: str) -> tuple[str, str]:
    """(sysroot, host path of the interpreter) for a program whose PT_INTERP is ``interp``,
    or a one-line :class:`MissingSysroot` saying what to install or pass."""
    sysroot = requested if requested is not None else default_sysroot(default)
    hint = (f"install {default.package} or pass --sysroot DIR" if requested is None
            else "check --sysroot")
    if not os.path.isdir(sysroot):
        raise MissingSysroot(f"{program}: sysroot {sysroot} does not exist ({hint})")
    host = inside(sysroot, interp)
    if not os.path.isfile(host):
        # An absolute symlink inside a sysroot points into the host's tree (as qemu-user
        # follows it); one that leads nowhere is a missing interpreter.
        raise MissingSysroot(f"{program}: interpreter {interp} not found in sysroot {sysroot} "
                             f"({hint})")
    return sysroot, host
