"""What the command-line tests share: running a program, and the rule for a bad argument."""
import subprocess


def run(program, *args):
    return subprocess.run([str(program), *map(str, args)], capture_output=True, text=True)


def check_rejected(check, result, args, mentions):
    """A bad argument: a non-zero exit and one clear line on stderr that mentions `mentions` (CLI11 may add its
    "Run with --help" hint as a second line)."""
    lines = [line for line in result.stderr.strip().splitlines() if line]
    check(result.returncode != 0, f"{args}: accepted")
    check(any(mentions in line for line in lines), f"{args}: unclear error {result.stderr!r}")
    check(len(lines) <= 2, f"{args}: more than one line of error: {result.stderr!r}")
