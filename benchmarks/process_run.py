"""Running a benchmark command in a fresh process and reading back its output and its own peak RSS."""
import os
import sys


def run(command):
    """Runs `command` (a list) and returns (stdout, peak RSS in MiB of that process alone)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.dup2(write, 1)
        os.execv(str(command[0]), [str(c) for c in command])
    os.close(write)
    with os.fdopen(read) as pipe:
        out = pipe.read()
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(map(str, command))}")
    return out, usage.ru_maxrss / 1024.0
