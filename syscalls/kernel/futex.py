"""Futex wait queues keyed by guest address (kernel/futex/ in Linux).

All guest threads share one address space, so a private and a shared futex on the
same address are the same queue here. Checking the futex word and queueing the
waiter happen without any guest code running in between, which is the atomicity
FUTEX_WAIT promises.
"""

from __future__ import annotations

from syscalls.kernel.wait import Block, WaitQueue

FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF


class FutexTable:
    def __init__(self) -> None:
        self.queues: dict[int, WaitQueue] = {}

    def queue(self, addr: int) -> WaitQueue:
        q = self.queues.get(addr)
        if q is None:
            q = self.queues[addr] = WaitQueue()
        return q

    def wake(self, addr: int, count: int, bitset: int = FUTEX_BITSET_MATCH_ANY) -> int:
        q = self.queues.get(addr)
        if q is None:
            return 0
        # Linux's futex_wake tests the count after waking, so a count of 0 wakes one.
        count = max(count, 1)
        woken = 0
        for block in list(q.waiters):
            if woken >= count:
                break
            if block.data & bitset:
                q.notify(block)
                woken += 1
        if not q.waiters:
            del self.queues[addr]
        return woken

    def requeue(self, addr: int, wake: int, target: int, move: int) -> int:
        """Wake up to ``wake`` waiters on ``addr`` and move up to ``move`` others to ``target``.

        Returns woken + moved, as FUTEX_CMP_REQUEUE does.
        """
        woken = self.wake(addr, wake) if wake > 0 else 0
        q = self.queues.get(addr)
        moved = 0
        if q is not None and move > 0 and target != addr:
            dest = self.queue(target)
            for block in list(q.waiters)[:move]:
                q.waiters.remove(block)
                dest.waiters.append(block)
                block.queues = tuple(dest if x is q else x for x in block.queues)
                moved += 1
            if not q.waiters:
                del self.queues[addr]
        return woken + moved

    def waiting(self, block: Block) -> bool:
        return any(block in q.waiters for q in self.queues.values())
