"""Loader errors: one root, one line each, so the CLI can report any of them plainly."""

from __future__ import annotations


class LoaderError(Exception):
    """Root of everything the loader refuses. ``str(err)`` is a complete one-line message."""


class NotElf(LoaderError):
    """The file is not an ELF file at all (wrong magic, a directory, empty)."""


class MalformedElf(LoaderError):
    """An ELF file whose headers or tables are inconsistent, truncated or out of range."""


class UnsupportedArch(LoaderError):
    """A well-formed ELF file for a machine, class or byte order that elftrace does not run."""


class UnsupportedImage(LoaderError):
    """A well-formed image elftrace cannot run yet (e.g. one that needs shared libraries)."""


class RelocationError(LoaderError):
    """A dynamic relocation that cannot be applied: unknown type, or a target outside the image."""


class PclntabError(LoaderError):
    """A Go symbol table (pclntab) that is missing or fails structural checks."""
