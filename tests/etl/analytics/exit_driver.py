"""Run an entry point's `main` many times, each in a forked process that exits the normal way.

    python -m tests.etl.analytics.exit_driver etl.query < arguments.json

reads a JSON list of argument lists and prints one JSON list: each run's exit code (negative:
the signal that ended it). The modules are imported once, here, before the first fork, and
nothing else is: each child's interpreter shutdown is that of `python -m <module>`.
"""

from __future__ import annotations

import importlib
import json
import os
import sys


def drive(module: str, arguments: list[list[str]], at_once: int = 2) -> list[int]:
    import pyarrow.dataset  # noqa: F401  (imported lazily by the engine: once here, not per child)

    main = importlib.import_module(module).main
    codes: dict[int, int] = {}
    running: dict[int, int] = {}  # pid -> index
    for index, args in enumerate(arguments):
        if len(running) >= at_once:
            pid, status = os.wait()
            codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            sys.exit(main(args))
        running[pid] = index
    while running:
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
    return [codes[i] for i in range(len(arguments))]


if __name__ == "__main__":
    print(json.dumps(drive(sys.argv[1], json.loads(sys.stdin.read()))))
