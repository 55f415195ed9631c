"""Helpers for bench/run.py: child processes (timed, peak RSS, progress phases), cleanup, machine info.

Standard library only. Every child is started in its own process group so that Ctrl-C or an
exception in the driver can stop it (and whatever it started) by that group's id.
"""
from __future__ import annotations

import json
import os
import platform
import pty
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

TIME_BIN = "/usr/bin/time"


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------- processes


class Children:
    """The processes this script started; `cleanup()` stops those still running."""

    def __init__(self) -> None:
        self._live: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def spawn(self, argv: list[str], **kw) -> subprocess.Popen:
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        with self._lock:
            self._live[p.pid] = p
        return p

    def forget(self, p: subprocess.Popen) -> None:
        with self._lock:
            self._live.pop(p.pid, None)

    def cleanup(self) -> None:
        with self._lock:
            live = [p for p in self._live.values() if p.poll() is None]
        for p in live:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in live:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p, signal.SIGKILL)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        with self._lock:
            self._live.clear()


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, sig)  # its own group (start_new_session): the child and what it started
    except (ProcessLookupError, PermissionError):
        pass


CHILDREN = Children()


class ProgressPhases:
    """Reads a child's stderr through a pseudo-terminal, so caps-backup draws its progress line,
    and records when each phase first appears (monotonic seconds)."""

    _line = re.compile(r"\x1b\[K([a-z][a-z0-9-]*)")

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        self.events: list[tuple[float, str]] = []
        self.text = bytearray()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close_slave(self) -> None:
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1

    def _read(self) -> None:
        text, scan = "", 0  # everything read so far; where the next search starts
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO once the child has exited and the slave is closed
                break
            if not chunk:
                break
            now = time.monotonic()
            self.text += chunk
            text += chunk.decode("utf-8", "replace")
            for m in self._line.finditer(text, scan):
                phase = m.group(1)
                # The name is padded to 20 columns: one that ends the buffer short of that may be cut.
                if m.end() == len(text) and len(phase) < 20:
                    scan = m.start()
                    break
                scan = m.end()
                if not self.events or self.events[-1][1] != phase:
                    self.events.append((now, phase))
        try:
            os.close(self.master)
        except OSError:
            pass

    def join(self) -> None:
        self._thread.join(timeout=10)

    def messages(self) -> str:
        """stderr without the progress line redraws."""
        s = self.text.decode("utf-8", "replace")
        s = re.sub(r"\r\x1b\[K[^\r\n]*", "", s)
        return s.replace("\r\n", "\n").strip()


@dataclass
class Result:
    argv: list[str]
    wall: float  # seconds, time.monotonic() around the child
    rc: int
    stdout: str = ""
    stderr: str = ""
    rss_kib: Optional[int] = None
    cpu: Optional[float] = None  # user + system seconds (GNU time)
    phases: list[tuple[str, float]] = field(default_factory=list)  # (phase, seconds) in order
    started: float = 0.0  # wall-clock start (time.time()), to compare with ledgers
    finished: float = 0.0

    def json(self):
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as e:
            raise BenchError(f"{' '.join(self.argv)}: stdout is not JSON ({e}): {self.stdout[:400]!r} / {self.stderr[:400]!r}")


def run(argv: list[str], *, stdout_file: Optional[Path] = None, env: Optional[dict] = None, cwd: Optional[Path] = None,
        rss: bool = True, phases: bool = False, check: bool = True, timeout: Optional[float] = None) -> Result:
    """Runs argv to completion; wall time by time.monotonic(), peak RSS by GNU time (%M, KiB).

    With `phases`, stderr is a pseudo-terminal and caps-backup's progress phases are timed.
    """
    argv = [str(a) for a in argv]
    full = argv
    rss_file = None
    if rss:
        fd, rss_file = tempfile.mkstemp(prefix="bench-rss-")
        os.close(fd)
        full = [TIME_BIN, "-f", "%M %U %S", "-o", rss_file] + argv
    out_handle = open(stdout_file, "wb") if stdout_file else None
    progress = ProgressPhases() if phases else None
    try:
        stderr_target = progress.slave if progress else subprocess.PIPE
        started_wall = time.time()
        t0 = time.monotonic()
        p = CHILDREN.spawn(full, stdin=subprocess.DEVNULL, stdout=out_handle or subprocess.PIPE, stderr=stderr_target,
                           env=env, cwd=cwd)
        if progress:
            progress.close_slave()
            progress.start()
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(p, signal.SIGKILL)
            p.wait()
            raise BenchError(f"timed out after {timeout} s: {' '.join(argv)}")
        t1 = time.monotonic()
        finished_wall = time.time()
        CHILDREN.forget(p)
    finally:
        if out_handle:
            out_handle.close()
        if progress:
            progress.close_slave()
    res = Result(argv=argv, wall=t1 - t0, rc=p.returncode, stdout=(out or b"").decode("utf-8", "replace"),
                 stderr=(err or b"").decode("utf-8", "replace"), started=started_wall, finished=finished_wall)
    if progress:
        progress.join()
        res.stderr = progress.messages()
        marks = [(t0, "startup")] + progress.events + [(t1, "exit")]
        res.phases = [(marks[i][1], marks[i + 1][0] - marks[i][0]) for i in range(len(marks) - 1)]
    if rss_file:
        try:
            text = Path(rss_file).read_text().strip().splitlines()
            # GNU time prints "Command exited with non-zero status N" before the format on failure.
            if text:
                rss_kib, user, system = text[-1].split()
                res.rss_kib, res.cpu = int(rss_kib), float(user) + float(system)
        except (OSError, ValueError):
            res.rss_kib = None
        finally:
            os.unlink(rss_file)
    if check and res.rc != 0:
        raise BenchError(f"exit {res.rc}: {' '.join(argv)}\nstdout: {res.stdout[-2000:]}\nstderr: {res.stderr[-2000:]}")
    return res


def start(argv: list[str], *, stdout_file: Path, stderr_file: Path) -> subprocess.Popen:
    """A background child (the POS simulator) with stdout/stderr to files."""
    with open(stdout_file, "wb") as out, open(stderr_file, "wb") as err:
        return CHILDREN.spawn([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out, stderr=err)


def stop(p: subprocess.Popen, *, sig: int = signal.SIGTERM, grace: float = 60) -> int:
    """Asks a background child to stop (it prints its summary on SIGTERM); kills it after `grace`."""
    if p.poll() is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
    try:
        rc = p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _signal_group(p, signal.SIGKILL)
        rc = p.wait()
    CHILDREN.forget(p)
    return rc


class ForeignLoad:
    """How busy the machine was with work that is not ours: CPU time from /proc/stat minus the CPU
    time of this script and its (reaped) children, per second of wall time, in cores."""

    def __init__(self) -> None:
        self.t0, self.busy0, self.own0 = time.monotonic(), _busy_seconds(), _own_seconds()

    def cores(self) -> float:
        wall = time.monotonic() - self.t0
        busy = _busy_seconds() - self.busy0
        own = _own_seconds() - self.own0
        return max(0.0, (busy - own) / wall) if wall > 0 else 0.0


def wait_quiet(max_wait: float, threshold: float = 0.3, window: float = 5.0, log=print) -> float:
    """Waits (at most `max_wait` s) for a `window` in which the machine's CPUs were busy less than
    `threshold` cores in total; returns the busy cores of the last window."""
    deadline = time.monotonic() + max_wait
    said = False
    while True:
        b0, t0 = _busy_seconds(), time.monotonic()
        time.sleep(window)
        cores = (_busy_seconds() - b0) / (time.monotonic() - t0)
        if cores < threshold or time.monotonic() >= deadline:
            if said:
                log(f"  machine {'quiet' if cores < threshold else 'still busy'} ({cores:.2f} cores busy)")
            return cores
        if not said:
            log(f"  waiting for other work to finish ({cores:.2f} cores busy; at most {max_wait:.0f} s) ...")
            said = True


def _busy_seconds() -> float:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _own_seconds() -> float:
    import resource
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


# --------------------------------------------------------------------------- files


def warm(*paths: Path) -> None:
    """`cat FILE > /dev/null`: puts the file in the page cache so every contender starts warm."""
    for path in paths:
        if not path.exists():
            continue
        with open(path, "rb", buffering=0) as f:
            while f.read(8 << 20):
                pass


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


class FilePoller:
    """Polls a file's size in the background (the WAL during a backup); keeps the maximum."""

    def __init__(self, path: Path, interval: float = 0.05) -> None:
        self.path, self.interval = path, interval
        self.max = file_size(path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.max = max(self.max, file_size(self.path))
            except OSError:
                pass


# --------------------------------------------------------------------------- machine info


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else "?"
    except (OSError, subprocess.SubprocessError):
        return "not installed"


def machine_info(repo: Path, binary: Path, work: Path) -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    commit = _first_line(["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    untracked = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
    state = "clean" if not untracked else ("uncommitted changes" if dirty else "untracked files")
    fs = _first_line(["findmnt", "-no", "FSTYPE,SOURCE", "-T", str(work)])
    sqlite = _first_line(["sqlite3", "--version"]).split()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram": f"{mem_kib / (1 << 20):.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "filesystem": f"{fs} ({work})",
        "sqlite3": " ".join(sqlite[:2]) if sqlite else "?",
        "gzip": _first_line(["gzip", "--version"]),
        "pigz": _first_line(["pigz", "--version"]),
        "restic": " ".join(_first_line(["restic", "version"]).split()[:2]),
        "caps-backup": f"{_first_line([str(binary), '--version'])}, binary built "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(os.stat(binary).st_mtime))}",
        "git commit": f"{commit} ({state})",
    }


def require_tools() -> None:
    missing = [t for t in ("sqlite3", "gzip", "gunzip", "pigz", "restic") if shutil.which(t) is None]
    if not os.access(TIME_BIN, os.X_OK):
        missing.append(TIME_BIN + " (Debian package `time`)")
    if missing:
        raise BenchError("missing tools: " + ", ".join(missing) + " (scripts/install-deps.sh installs them)")


def replace_section(path: Path, begin: str, end: str, section: str) -> None:
    """Rewrites a script's generated section of a Markdown file, between its markers (appended if absent)."""
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)
