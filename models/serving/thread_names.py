"""Give Python's worker threads their names at the operating-system level too.

CPython 3.11 names a thread only for Python (``threading.current_thread().name``); ``top -H``, ``ps -L`` and
``/proc/<pid>/task/<tid>/comm`` all show the process's name for every thread. A serving process runs several
kinds of work side by side (ONNX lanes, the API's batch workers, the scorer's delivery thread), and the
benchmarks split its CPU between them from ``/proc`` (issue 29: "how the cores were shared"), which needs
the kernel to know which thread is which. Pass :func:`name_os_thread` as a ``ThreadPoolExecutor`` initializer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading

PR_SET_NAME = 15  # <linux/prctl.h>
OS_NAME_MAX = 15  # the kernel keeps 16 bytes, the last one a NUL


def os_thread_name(name: str) -> str:
    """The name as the kernel will keep it: ASCII, at most 15 bytes."""
    return name.encode("ascii", "replace")[:OS_NAME_MAX].decode("ascii")


def name_os_thread() -> None:
    """Set the calling thread's kernel name to its Python name (Linux; elsewhere nothing happens)."""
    if not sys.platform.startswith("linux"):
        return
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name, use_errno=True)
    libc.prctl(PR_SET_NAME, os_thread_name(threading.current_thread().name).encode("ascii"), 0, 0, 0)
