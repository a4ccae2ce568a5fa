"""Sysroot choice, interpreter lookup and the qemu -L path policy, against a fake tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from loader.sysroot import (
    MissingSysroot,
    SysrootDefault,
    default_sysroot,
    find_interpreter,
    resolve_in_sysroot,
)
from syscalls.kernel.paths import SysrootPaths

ARMHF = SysrootDefault(native_machines=("armv7l",), cross_root="/nonexistent/arm-linux-gnueabihf",
                       package="libc6-armhf-cross")


def test_default_is_host_root_only_on_a_native_host() -> None:
    assert default_sysroot(ARMHF, "armv7l") == "/"
    assert default_sysroot(ARMHF, "x86_64") == "/nonexistent/arm-linux-gnueabihf"


def test_missing_default_sysroot_names_the_package() -> None:
    with pytest.raises(MissingSysroot) as err:
        find_interpreter(None, ARMHF, "/lib/ld-linux-armhf.so.3", "prog")
    message = str(err.value)
    assert "libc6-armhf-cross" in message and "\n" not in message


def test_missing_interpreter_inside_a_given_sysroot(tmp_path: Path) -> None:
    with pytest.raises(MissingSysroot, match=r"interpreter /lib/ld\.so\.1 not found"):
        find_interpreter(str(tmp_path), ARMHF, "/lib/ld.so.1", "prog")


def test_interpreter_found_inside_the_sysroot(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "ld.so.1").write_bytes(b"\x7fELF")
    assert find_interpreter(str(tmp_path), ARMHF, "/lib/ld.so.1", "prog") == (
        str(tmp_path), str(tmp_path / "lib" / "ld.so.1"))


def test_paths_prefer_the_sysroot_and_fall_back_to_the_host(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hostname").write_text("guest\n")
    policy = SysrootPaths(str(tmp_path))
    assert policy.host("/etc/hostname") == str(tmp_path / "etc" / "hostname")
    assert policy.host("/dev/null") == "/dev/null"
    assert resolve_in_sysroot(str(tmp_path), "/etc/hostname") == str(tmp_path / "etc/hostname")
    assert SysrootPaths("/").host("/etc/hostname") == "/etc/hostname"
