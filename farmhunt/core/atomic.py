"""Safe output: check where we may write, build under a temporary name, rename into place at the end.

The rule for every `--out` (see README "Safety"): farmhunt writes only into a path that is absent,
an empty directory, or an earlier output of the *same command*, recognised by its marker file
(`OUTPUT_KINDS`, the one place that knows them). It refuses, with exit 2, the input itself or any
ancestor of an input, the current directory and its ancestors, `/` and $HOME, an existing file where
a directory goes, and a non-empty directory it did not write (`force=True` overrides only that last
case). The output is built in a temporary sibling `.OUT.tmp-<pid>-*` holding a marker file; a crash,
a signal or a validation error therefore never leaves half-written output under the real name, and a
later run removes temporaries whose process is gone (or that are older than a day).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from farmhunt.core import interrupt
from farmhunt.core.errors import OutputError
from farmhunt.core.safe_text import printable

#: File inside a temporary output directory that says which process made it and when.
TEMP_MARKER = ".farmhunt-tmp"
#: Temporaries of a live process are kept this long; after it, or once the process is gone, they are swept.
STALE_SECONDS = 24 * 3600
#: Outputs this process has put in place (so an interrupt message can say so truthfully).
committed: list[Path] = []


def _json_keys(path: Path, *keys: str) -> bool:
    """True if `path` is a small JSON object holding every key in `keys`."""
    try:
        if not path.is_file() or path.stat().st_size > 64 * 1024 * 1024:
            return False
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and all(k in doc for k in keys)


def _head_contains(path: Path, needle: str, n: int = 8192) -> bool:
    try:
        with path.open("rb") as f:
            return needle.encode() in f.read(n)
    except OSError:
        return False


@dataclass(frozen=True)
class OutputKind:
    """An output farmhunt writes, and how to recognise an earlier one (so it may be replaced)."""

    name: str
    command: str
    directory: bool
    recognise: Callable[[Path], bool]
    marker: str  # what the user is told to look for


OUTPUT_KINDS: dict[str, OutputKind] = {
    k.name: k
    for k in (
        OutputKind(
            "results", "farmhunt detect", True, lambda p: _json_keys(p / "run.json", "farmhunt_version"), "run.json"
        ),
        OutputKind(
            "world",
            "farmhunt synth",
            True,
            lambda p: _json_keys(p / "manifest.json", "generator", "files"),
            "manifest.json",
        ),
        OutputKind("replay", "farmhunt replay", True, lambda p: _json_keys(p / "replay.json", "meta"), "replay.json"),
        OutputKind(
            "evidence_pack",
            "the console's evidence-pack export",
            True,
            lambda p: _json_keys(p / "manifest.json", "cluster_id", "files"),
            "manifest.json",
        ),
        OutputKind(
            "bench",
            "farmhunt bench",
            True,
            lambda p: any(p.glob("bench-*.json")) or (p / "worlds").is_dir(),
            "bench-*.json or worlds/",
        ),
        OutputKind("eval_json", "farmhunt eval --json", False, lambda p: _json_keys(p, "schema", "farmhunt"), "JSON"),
        OutputKind(
            "eval_junit", "farmhunt eval --junit", False, lambda p: _head_contains(p, "<testsuites"), "JUnit XML"
        ),
        OutputKind(
            "eval_report",
            "farmhunt eval --report",
            False,
            lambda p: _head_contains(p, "<title>farmhunt evaluation"),
            "HTML report",
        ),
    )
}


def recognise(path: str | Path) -> str | None:
    """The kind of farmhunt output directory or file at `path` (a key of `OUTPUT_KINDS`), or None."""
    p = Path(path)
    for kind in OUTPUT_KINDS.values():
        if kind.directory == p.is_dir() and kind.recognise(p):
            return kind.name
    return None


def _show(p: Path) -> str:
    return printable(str(p), limit=300)


def _is_within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_out(
    out: str | Path,
    kind: str | None = None,
    *,
    inputs: Iterable[str | Path | None] = (),
    force: bool = False,
    option: str = "--out",
    probe: bool = False,
) -> Path:
    """Apply the output rule (module doc) to `out`; return its absolute path or raise `OutputError`.

    `probe`: for an absent `out`, check that it can be created (a temporary is made and removed in
    its nearest existing ancestor), so a command fails before its work rather than after it.

    `kind`: what will be written (a key of `OUTPUT_KINDS`); None accepts an earlier output of any
    kind here and leaves the same-kind check to `atomic_dir`, which sees what was written.
    """
    spec = OUTPUT_KINDS[kind] if kind else None
    directory = spec.directory if spec else True
    given = Path(out).expanduser()
    path = given.resolve()
    name = f"{option} '{_show(given)}'"
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    if path == Path(path.anchor):
        raise OutputError(f"{name} is the root directory: refusing to write there")
    if _is_within(cwd, path):
        what = "the current directory" if path == cwd else "an ancestor of the current directory"
        raise OutputError(f"{name} is {what}: refusing to replace it (give a new directory, e.g. {option} results)")
    if _is_within(home, path):
        raise OutputError(f"{name} is your home directory or an ancestor of it: refusing to write there")
    for inp in inputs:
        if inp is None:
            continue
        ip = Path(inp).expanduser().resolve()
        if not ip.exists():
            continue  # nothing to overwrite; reading it fails with its own message
        if _is_within(ip, path):
            what = "is the input" if ip == path else "contains the input"
            raise OutputError(f"{name} {what} '{_show(Path(inp))}': refusing to overwrite an input")
        if ip.is_dir() and _is_within(path, ip) and (path.exists() or path.is_symlink()):
            raise OutputError(f"{name} is part of the input '{_show(Path(inp))}': refusing to overwrite an input")
    for anc in path.parents:  # the first existing ancestor must be a directory
        if anc.exists():
            if not anc.is_dir():
                raise OutputError(f"{name} cannot be created: '{_show(anc)}' is a file, not a directory")
            break
    if not (path.exists() or path.is_symlink()):
        if probe:
            _probe(path, name)
        return path
    if directory:
        if not path.is_dir():
            raise OutputError(
                f"{name} is an existing file: farmhunt writes a directory there and will not replace a file"
            )
        try:
            entries = sorted(e.name for e in path.iterdir())
        except OSError as exc:
            raise OutputError(f"{name} cannot be read: {exc.strerror}") from exc
        if not entries:
            return path
        found = recognise(path)
        if (found == kind if kind else found is not None) or force:
            return path
        shown = ", ".join(repr(printable(e, limit=60)) for e in entries[:3]) + (", ..." if len(entries) > 3 else "")
        made_by = f"an earlier output of {spec.command} (no {spec.marker})" if spec else "a farmhunt output"
        raise OutputError(
            f"{name} is a non-empty directory that is not {made_by}; it holds {shown}. "
            f"Choose a new or empty directory, or pass --force to replace it"
        )
    if path.is_dir():
        raise OutputError(f"{name} is a directory: expected a file name")
    if (spec and spec.recognise(path)) or force:
        return path
    raise OutputError(
        f"{name} exists and is not an earlier output of {spec.command if spec else 'farmhunt'}: "
        "choose another name, or pass --force to replace it"
    )


def _probe(path: Path, name: str) -> None:
    anc = next((a for a in path.parents if a.exists()), Path(path.anchor))
    try:
        Path(tempfile.mkdtemp(prefix=".farmhunt-probe-", dir=anc)).rmdir()
    except OSError as exc:
        raise OutputError(f"{name} cannot be created: {exc.strerror or exc} in '{_show(anc)}'") from exc


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _temp_pid(name: str, prefix: str) -> int | None:
    """The pid in a temporary's name `<prefix><pid>-<random>`, or None if it is not one of ours."""
    rest = name[len(prefix) :] if name.startswith(prefix) else ""
    pid, sep, _ = rest.partition("-")
    return int(pid) if sep and pid.isdigit() else None


def _stale(path: Path, pid: int) -> bool:
    try:
        age = time.time() - path.lstat().st_mtime
    except OSError:
        return False
    return not _pid_alive(pid) or age > STALE_SECONDS


def sweep_stale(parent: str | Path, prefix: str) -> list[Path]:
    """Remove temporaries in `parent` named `<prefix><pid>-*` that farmhunt made and that are stale.

    A directory counts as ours only if it holds `TEMP_MARKER`; a file only by its name. Stale: its
    process is gone, or it is older than `STALE_SECONDS`. Returns what was removed.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for p in entries:
        pid = _temp_pid(p.name, prefix)
        if pid is None or p.is_symlink():
            continue
        if p.is_dir():
            if not (p / TEMP_MARKER).is_file() or not _stale(p, pid):
                continue
            shutil.rmtree(p, ignore_errors=True)
        elif p.is_file() and _stale(p, pid):
            p.unlink(missing_ok=True)
        else:
            continue
        removed.append(p)
    return removed


def _make_temp_dir(parent: Path, prefix: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    (tmp / TEMP_MARKER).write_text(json.dumps({"pid": os.getpid(), "created": time.time()}))
    return tmp


def _mkdir_parent(out: Path, option: str) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{option} '{_show(out)}' cannot be created: {exc.strerror or exc}") from exc


@contextlib.contextmanager
def atomic_dir(
    out: str | Path,
    *,
    kind: str | None = None,
    inputs: Iterable[str | Path | None] = (),
    force: bool = False,
    overwrite: bool = True,
    option: str = "--out",
) -> Iterator[Path]:
    """Yield a temporary sibling directory of `out`; on success it replaces `out`, on error it is removed.

    `out` must pass `check_out` (see the module doc). Without `kind`, an existing non-empty `out` is
    replaced only by output of its own kind, judged from what the block wrote.
    """
    given = out
    out = check_out(out, kind, inputs=inputs, force=force, option=option)
    if out.exists() and not overwrite:
        raise OutputError(f"{option} '{_show(out)}' already exists")
    _mkdir_parent(out, option)
    prefix = f".{out.name}.tmp-"
    sweep_stale(out.parent, prefix)
    sweep_stale(out.parent, f".{out.name}.old-")
    tmp: Path | None = None
    try:
        try:
            # A signal between mkdtemp and the assignment would leave the directory unknown to the
            # cleanup below: it is held until `tmp` names it.
            with interrupt.deferred():
                tmp = _make_temp_dir(out.parent, prefix)
        except OSError as exc:
            raise OutputError(f"{option} '{_show(out)}' cannot be created: {exc.strerror or exc}") from exc
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the output is an ordinary directory
        yield tmp
        (tmp / TEMP_MARKER).unlink(missing_ok=True)
        if kind is None and not force and out.is_dir() and any(out.iterdir()):
            before, now = recognise(out), recognise(tmp)
            if before != now:
                raise OutputError(
                    f"{option} '{_show(Path(given))}' holds a {before or 'foreign'} output, not a "
                    f"{now or 'farmhunt'} output: refusing to replace it (choose another directory or pass --force)"
                )
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    with interrupt.deferred():  # the two renames are never separated by a signal
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
            os.replace(out, old)
            with contextlib.suppress(OSError):  # marks it ours, so a later run sweeps it if we die now
                (old / TEMP_MARKER).write_text("{}")
        os.replace(tmp, out)
        committed.append(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(
    out: str | Path,
    *,
    kind: str | None = None,
    inputs: Iterable[str | Path | None] = (),
    force: bool = False,
    option: str = "output",
) -> Iterator[Path]:
    """Yield a temporary path beside `out`; it is renamed onto `out` only if the block succeeds.

    With `kind`, `out` must pass `check_out` for that kind (an existing file of another kind is refused).
    """
    if kind is not None:
        out = check_out(out, kind, inputs=inputs, force=force, option=option)
    out = Path(out).resolve()
    if out.is_dir():
        raise OutputError(f"{option} '{_show(out)}' is a directory: expected a file name")
    _mkdir_parent(out, option)
    prefix = f".{out.name}.tmp-"
    sweep_stale(out.parent, prefix)
    tmp: Path | None = None
    try:
        try:
            with interrupt.deferred():  # (as in `atomic_dir`: the file is named before a signal lands)
                fd, name = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", dir=out.parent)
                os.close(fd)
                tmp = Path(name)
        except OSError as exc:
            raise OutputError(f"{option} '{_show(out)}' cannot be created: {exc.strerror or exc}") from exc
        tmp.chmod(0o666 & ~_umask())
        yield tmp
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    with interrupt.deferred():
        os.replace(tmp, out)
        committed.append(out)


@contextlib.contextmanager
def temp_dir(prefix: str = "farmhunt-") -> Iterator[Path]:
    """A private temporary directory under the system temp dir, removed on exit (also on a signal).

    It holds `TEMP_MARKER`, so a later run sweeps it if a `kill -9` left it behind.
    """
    parent = Path(tempfile.gettempdir())
    sweep_stale(parent, prefix)
    tmp: Path | None = None
    try:
        with interrupt.deferred():  # (as in `atomic_dir`: the directory is named before a signal lands)
            tmp = _make_temp_dir(parent, prefix)
        yield tmp
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
