"""The emulator: Unicorn CPUs per architecture, the run loop, the dispatcher, the tracer."""

from __future__ import annotations
