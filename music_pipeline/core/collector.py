"""Python's cyclic garbage collector while a run executes.

Every object that exists when a run's execution starts (the code location, Dagster, pandas, pyarrow: ~220k
objects) lives at least as long as the run, yet each full collection walks them all: 0.1-0.2 s a pass, two or three
passes in the run of a 10M-listen day. `EngineResource` (the resource every asset and check step uses) freezes
them (`gc.freeze`) when the run's resources are set up in a process and unfreezes them when they are torn down, so
they are collected as usual afterwards; objects made during the run are collected as always. Nested set-ups (a
sensor's resources inside a process that runs steps) count: the last teardown unfreezes.
"""

import gc
import threading

_lock = threading.Lock()
_holders = 0


def freeze() -> None:
    global _holders
    with _lock:
        if _holders == 0:
            gc.freeze()
        _holders += 1


def unfreeze() -> None:
    global _holders
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0:
            gc.unfreeze()
