"""What the command-line tests share: running a program, the rule for a bad argument, and running on a full disk."""
import pathlib
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


# Every path under a folder, then every file's checksum: equal listings mean the same files with the same bytes.
_SNAPSHOT = 'snapshot() { (cd "$1" && find . | LC_ALL=C sort && find . -type f | LC_ALL=C sort | xargs -r cksum); }'

# In a private mount namespace: a 16 KiB tmpfs on the folder $1, filled with a copy of the folder $2, the command
# after $3 run on it, and the disk's snapshot left in the file $3 (outside the tmpfs, which ends with the namespace).
_ON_SMALL_DISK = _SNAPSHOT + '''
disk=$1 template=$2 report=$3
shift 3
mount -t tmpfs -o size=16k tmpfs "$disk" && cp -a "$template/." "$disk/" || exit 125
"$@"
status=$?
snapshot "$disk" > "$report"
exit $status
'''


def snapshot(folder):
    """The listing of `folder` that run_on_small_disk reports for its disk."""
    return subprocess.run(["sh", "-c", _SNAPSHOT + '\nsnapshot "$1"', "sh", str(folder)], capture_output=True,
                          text=True, check=True).stdout


def run_on_small_disk(disk, template, program, *args):
    """Runs `program args` with a 16 KiB tmpfs on the folder `disk` (made here), holding a copy of the folder
    `template`, in a private mount namespace (`unshare -m`: root only). Returns the result and the snapshot of the
    disk after the run, or None — with a note printed — where the namespace or the mount is refused."""
    disk, template = pathlib.Path(disk), pathlib.Path(template)
    disk.mkdir(parents=True)
    report = disk.with_name(disk.name + "_after.txt")
    result = subprocess.run(["unshare", "-m", "sh", "-c", _ON_SMALL_DISK, "sh", str(disk), str(template), str(report),
                             str(program), *map(str, args)], capture_output=True, text=True)
    if not report.exists():
        print(f"note: full-disk case skipped (no private tmpfs: {result.stderr.strip()!r})")
        return None
    return result, report.read_text()


def check_full_disk_failure(check, label, outcome, template, mentions):
    """What a run on a full disk must do: a non-zero exit, one error line on stderr, the last (after any warning),
    that says the disk is full and names `mentions` (the file it could not write), no "wrote" line, and the disk
    exactly as `template` was."""
    if outcome is None:
        return
    result, after = outcome
    lines = [line for line in result.stderr.strip().splitlines() if line]
    check(result.returncode != 0, f"{label}: a full disk was reported as success")
    full = [line for line in lines if "No space left on device" in line]
    check(len(full) == 1 and full[0] == lines[-1] and mentions in full[0], f"{label}: unclear error {result.stderr!r}")
    check("wrote" not in result.stdout, f"{label}: says it wrote its outputs")
    check(after == snapshot(template), f"{label}: the disk changed:\n{after}\nexpected:\n{snapshot(template)}")
