"""Observers of the run: the strace-format printer, the -c summary, and their formats."""

from __future__ import annotations
