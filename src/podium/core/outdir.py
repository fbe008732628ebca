"""Output folders that runs can share safely: one run at a time, and results replaced only by finished runs.

`exclusive(root)` takes an advisory lock on `<root>/.podium.lock` (fcntl.flock: the kernel drops it when the
holder dies, even by kill -9) naming the holder's PID, command and start; a second run refuses in one line.
It also holds shared locks on the lock files of the folders above, so `podium train --out X/training` and a
`podium run --out X` cannot run at once. Within one process the lock is re-entrant (`podium run` trains and
serves into the folders it locked).

`Staged(final, root)` gives a run a staging folder under `<root>/.podium/staging/<run id>/`; `commit()` swaps
it in for `final` (two renames on one file system). A run that raises, is interrupted or is killed never
touches `final`: its staging folder moves to `<root>/.podium/partial/<run id>/` so that nothing it measured
is lost either. A half-done commit (killed between the two renames) is rolled back by the next run to take
the lock, and a killed run's staging folder is moved to partial/ then.

    <root>/.podium.lock
    <root>/.podium/staging/<run id>/{stage.json, new/, previous/}
    <root>/.podium/partial/<run id>/<path of final below root>/
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from podium.core.errors import OutputBusy, OutputError
from podium.core.files import ensure_dir, output_error

LOCK_NAME = ".podium.lock"
STATE_DIR = ".podium"
_held: dict[str, list[int]] = {}  # realpath of a locked root -> [fd, depth]


def _holder_text() -> str:
    cmd = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200] if sys.argv else "python"
    return f"PID {os.getpid()} ({cmd}), since {datetime.now(timezone.utc).isoformat(timespec='seconds')}"


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 400).decode("utf-8", "replace").strip() or "a PID not recorded"
    except OSError:
        return "a PID not recorded"


def _lock_fd(path: Path, flags: int, mode: int) -> int:
    try:
        return os.open(path, flags, 0o644)
    except OSError as e:
        raise output_error(e, path, "lock") from e


@contextmanager
def exclusive(root: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold `root` for this run (creating it); raise OutputBusy naming the holder if another run has it."""
    root = ensure_dir(root)
    key = os.path.realpath(root)
    if key in _held:
        _held[key][1] += 1
        try:
            yield root
        finally:
            _held[key][1] -= 1
        return
    fds = _lock_ancestors(root)
    fd = _lock_fd(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    fds.append(fd)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputBusy(f"{root} is in use by another Podium run ({_read_holder(fd)}); wait for it to "
                             "end or choose another --out", path=str(root)) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (_holder_text() + "\n").encode(), 0)
        except OSError as e:
            raise output_error(e, root / LOCK_NAME, "lock") from e
        _held[key] = [fd, 1]
        try:
            recover(root)
            yield root
        finally:
            del _held[key]
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
    finally:
        for f in fds:
            os.close(f)


def _lock_ancestors(root: Path) -> list[int]:
    """Shared locks on the existing lock files above `root` not held by this process."""
    fds: list[int] = []
    for parent in Path(os.path.realpath(root)).parents:
        lock = parent / LOCK_NAME
        if str(parent) in _held or not lock.is_file():
            continue
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            for f in fds:
                os.close(f)
            raise OutputBusy(f"{parent} (which holds {root}) is in use by another Podium run ({holder}); "
                             "wait for it to end or choose another --out", path=str(parent)) from None
        fds.append(fd)
    return fds


def held(root: str | os.PathLike[str]) -> bool:
    return os.path.realpath(root) in _held


class Staged:
    """A staging folder for the new contents of `final` (below the locked `root`)."""

    def __init__(self, final: str | os.PathLike[str], root: str | os.PathLike[str], *, seed: bool = False) -> None:
        self.final, self.root = Path(final), Path(root)
        if not held(self.root):
            raise OutputError(f"{self.root} must be locked (outdir.exclusive) before staging into it",
                              path=str(self.root))
        self.relative = Path(os.path.relpath(self.final, self.root))
        if self.relative.parts[:1] == ("..",):
            raise OutputError(f"{self.final} is not inside {self.root}", path=str(self.final))
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.run_id = f"{stamp}-{os.getpid()}-{time.monotonic_ns() % 1_000_000:06d}"
        self.area = self.root / STATE_DIR / "staging" / self.run_id
        self.path = self.area / "new"
        self.committed = False
        self.abandoned = False  # set aside: leaving the `with` block does not commit
        self.partial: Path | None = None
        ensure_dir(self.area)
        try:
            (self.area / "stage.json").write_text(json.dumps(
                {"final": str(self.final.resolve()), "relative": str(self.relative), "pid": os.getpid()}), "utf-8")
            if seed and self.final.is_dir():
                shutil.copytree(self.final, self.path, symlinks=True)
            else:
                self.path.mkdir()
        except shutil.Error as e:  # copytree lists every file that failed: name the first
            shutil.rmtree(self.area, ignore_errors=True)
            src, _, why = (e.args[0][0] if e.args and e.args[0] else ("", "", str(e)))
            raise OutputError(f"cannot stage a copy of {src or self.final}: {why}", path=str(self.path)) from e
        except OSError as e:
            shutil.rmtree(self.area, ignore_errors=True)
            raise output_error(e, self.path, "stage results in") from e

    def commit(self) -> Path:
        """Replace `final` with the staged folder; the previous contents are removed only after the swap."""
        from podium.core import signals

        previous = self.area / "previous"
        try:
            with signals.deferred():  # never stopped between the two renames
                ensure_dir(self.final.parent)
                if self.final.exists():
                    os.rename(self.final, previous)
                os.rename(self.path, self.final)
        except OSError as e:
            self._restore(previous)
            raise output_error(e, self.final, "replace") from e
        except BaseException:
            self._restore(previous)
            raise
        self.committed = True
        shutil.rmtree(self.area, ignore_errors=True)
        _prune(self.root / STATE_DIR / "staging")
        return self.final

    def _restore(self, previous: Path) -> None:
        """Undo a commit cut short: the previous result goes back in place."""
        if previous.exists() and not self.final.exists():
            os.rename(previous, self.final)

    def abandon(self) -> Path | None:
        """Keep what this run wrote, under partial/, leaving `final` untouched; returns where it went."""
        self.abandoned = True
        self._restore(self.area / "previous")
        if self.committed or not self.path.exists():
            shutil.rmtree(self.area, ignore_errors=True)
            return None
        dest = self.root / STATE_DIR / "partial" / self.run_id / self.relative
        try:
            ensure_dir(dest.parent)
            os.rename(self.path, dest)
        except (OSError, OutputError):
            return self.path  # left in staging; the next run moves it
        shutil.rmtree(self.area, ignore_errors=True)
        _prune(self.root / STATE_DIR / "staging")
        self.partial = dest
        return dest

    def set_aside(self) -> Path | None:
        """A run that ended without a result to publish (a test failed): `abandon`, and say where the files went."""
        where = self.abandon()
        if where is not None:
            print(f"podium: the previous results in {self.final} are unchanged; this run's files are in {where}",
                  file=sys.stderr, flush=True)
        return where

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            if not self.committed and not self.abandoned:
                self.commit()
            return
        if not self.abandoned:
            self.set_aside()


def recover(root: Path) -> list[Path]:
    """Under the lock: roll back half-done commits of killed runs and keep their files under partial/."""
    staging = root / STATE_DIR / "staging"
    kept: list[Path] = []
    if not staging.is_dir():
        return kept
    for area in sorted(p for p in staging.iterdir() if p.is_dir()):
        final, relative = _journal(area)
        previous = area / "previous"
        if final is not None and previous.exists() and not final.exists():
            os.rename(previous, final)  # killed between the two renames: the old result goes back
        new = area / "new"
        if new.exists():
            dest = root / STATE_DIR / "partial" / area.name / (relative or Path("."))
            ensure_dir(dest.parent)
            os.rename(new, dest)
            kept.append(dest)
            print(f"podium: an earlier run into {root} was killed; its files are kept in {dest}",
                  file=sys.stderr, flush=True)
        shutil.rmtree(area, ignore_errors=True)
    _prune(staging)
    return kept


def _journal(area: Path) -> tuple[Path | None, Path | None]:
    """The final folder and its path below the root, as the staging run recorded them."""
    try:
        data = json.loads((area / "stage.json").read_text("utf-8"))
        return Path(data["final"]), Path(data["relative"])
    except (OSError, ValueError, KeyError):
        return None, None


def _prune(folder: Path) -> None:
    try:
        folder.rmdir()  # only when empty
    except OSError:
        pass


__all__ = ["LOCK_NAME", "STATE_DIR", "Staged", "exclusive", "held", "recover"]
