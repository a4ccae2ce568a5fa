"""Run one binary under Qiling (the optional ``qiling`` column of the benchmark).

``QILING_PYTHON bench/qiling_run.py BINARY [ARGS...]``, with a Python that has the PyPI
package ``qiling`` installed (it pins its own Unicorn, so it lives in its own venv). The
host's root is the guest's root, as for elftrace and qemu-user.
"""

from __future__ import annotations

import sys


def main() -> int:
    from qiling import Qiling
    from qiling.const import QL_VERBOSE

    ql = Qiling(sys.argv[1:], rootfs="/", verbose=QL_VERBOSE.DISABLED)
    ql.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
