"""Loading a world directory: find each table's file, validate it, and hand out lazy frames.

`load_world` is what every command calls; `World` carries the canonical lazy frames (and the stored
ones, for fast grouping on dictionary codes); the manifest helpers check and hash `manifest.json`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from farmhunt.core.contract import DETECTION_TABLES, LABELS, MANIFEST_FILE, TABLES, TableSpec, latest_plausible_time
from farmhunt.core.validate import ContractError, Problem, check_reference, check_table

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(world: str | Path) -> bool:
    """True when `world` is a URL (`s3a://...`, `hdfs://...`, `file://...`): read through Spark, not here."""
    return isinstance(world, str) and bool(_URL.match(world))


def find_table_file(world: Path, name: str) -> Path | None:
    """The file holding table `name` in `world`: `name.parquet`, else `name.csv`, else None."""
    for suffix in (".parquet", ".csv"):
        p = world / f"{name}{suffix}"
        if p.exists():
            return p
    return None


@dataclass
class World:
    """A loaded world: lazy frames in the contract's canonical dtypes, keyed by table name."""

    path: Path
    tables: dict[str, pl.LazyFrame]
    files: dict[str, Path]
    manifest: dict | None = None
    native_tables: dict[str, pl.LazyFrame] = field(default_factory=dict)
    #: Set by `cut`: readers of the files themselves (the request store) must drop rows from then on.
    until: datetime | None = None

    def __getitem__(self, name: str) -> pl.LazyFrame:
        return self.tables[name]

    def native(self, name: str) -> pl.LazyFrame:
        """Table `name` with Categorical/Enum text columns left as stored (everything else canonical).

        Grouping and counting distinct values on the stored dictionary codes is about twice as fast as
        on strings; hot paths over the request table group natively and cast keys with `as_strings`.
        """
        return self.native_tables.get(name, self.tables[name])

    def __contains__(self, name: str) -> bool:
        return name in self.tables

    def cut(self, until: datetime) -> World:
        """The world as it was at `until`: rows whose time is before it (accounts by `created_at`)."""
        until = until if until.tzinfo else until.replace(tzinfo=timezone.utc)

        def before(name: str, lf: pl.LazyFrame) -> pl.LazyFrame:
            spec = TABLES[name]
            tcol = "created_at" if "created_at" in spec.columns else ("ts" if "ts" in spec.columns else None)
            lf = lf.filter(pl.col(tcol) < until) if tcol else lf
            if name == "api_keys":
                lf = lf.with_columns(
                    pl.when(pl.col("revoked_at") < until).then(pl.col("revoked_at")).otherwise(None).alias("revoked_at")
                )
            return lf

        return World(
            self.path,
            {n: before(n, lf) for n, lf in self.tables.items()},
            self.files,
            self.manifest,
            {n: before(n, lf) for n, lf in self.native_tables.items()},
            min(until, self.until) if self.until else until,
        )


def as_strings(lf: pl.LazyFrame, *columns: str) -> pl.LazyFrame:
    """Cast text columns that may be Categorical (see `World.native`) to String, after aggregating."""
    return lf.with_columns(pl.col(c).cast(pl.String) for c in columns)


def load_world(
    path: str | Path,
    tables: tuple[TableSpec, ...] = DETECTION_TABLES,
    check_references: bool = True,
    deep: bool = True,
    defer: tuple[str, ...] = (),
) -> World:
    """Load and validate a world directory; raise `ContractError` listing *every* problem found.

    Only the tables named in `tables` are read (detection never asks for `labels`). With
    `deep=False` only files, columns and dtypes are checked (no pass over the data): for readers such
    as the console that open an already-validated world and must start fast. Tables in `defer` get
    only their schema and parse checks here; nulls, emptiness and references are left to the caller's
    own pass over them (detection's request store checks the request table while encoding it).
    """
    world = Path(path)
    if not world.is_dir():
        raise ContractError(f"world directory '{world}' does not exist or is not a directory", source=str(world))
    problems: list[Problem] = []
    frames: dict[str, pl.LazyFrame] = {}
    natives: dict[str, pl.LazyFrame] = {}
    files: dict[str, Path] = {}
    manifest, mproblem = _read_manifest(world)
    problems += [mproblem] if mproblem else []
    latest = latest_plausible_time(manifest)
    for spec in tables:
        f = find_table_file(world, spec.name)
        if f is None:
            if spec.required:
                problems.append(Problem(f"{spec.name}.parquet", None, "missing file (no .parquet or .csv)"))
            continue
        lf, probs = check_table(f, spec, deep, natives, deferred=spec.name in defer, latest=latest)
        if not spec.required and len(probs) == 1 and probs[0].reason == "empty table (no rows)":
            natives.pop(spec.name, None)  # an empty optional table is the same as a missing one
            continue
        problems += probs
        if lf is not None:
            frames[spec.name], files[spec.name] = lf, f
    if deep and check_references and "accounts" in frames:
        acc = frames["accounts"]
        for name in frames:
            ref = TABLES[name].account_ref
            if ref and name != "labels" and name not in defer:
                p = check_reference(natives[name], ref, acc, "account_id", files[name].name, "accounts.account_id")
                problems += [p] if p else []
        if "labels" in frames:
            p = check_reference(
                acc,
                "account_id",
                frames["labels"],
                "account_id",
                files["accounts"].name,
                "labels.account_id (every account needs a label)",
            )
            problems += [p] if p else []
        if "requests" in frames and "asns" in frames and "requests" not in defer:
            p = check_reference(natives["requests"], "asn", frames["asns"], "asn", files["requests"].name, "asns.asn")
            problems += [p] if p else []
        if "requests" in frames and "api_keys" in frames and "requests" not in defer:
            p = check_reference(
                natives["requests"], "key_id", frames["api_keys"], "key_id", files["requests"].name, "api_keys.key_id"
            )
            problems += [p] if p else []
    if problems:
        raise ContractError(problems, source=str(world))
    return World(world, frames, files, manifest, {k: v for k, v in natives.items() if k in frames})


def _read_manifest(world: Path) -> tuple[dict | None, Problem | None]:
    """The world's manifest.json (None without one) and the problem with it, if any."""
    mpath = world / MANIFEST_FILE
    if not (mpath.exists() or mpath.is_symlink()):
        return None, None
    if not mpath.is_file():
        return None, Problem(MANIFEST_FILE, None, "is not a regular file (a directory?)")
    try:
        doc = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, Problem(MANIFEST_FILE, None, f"not valid JSON: {exc}")
    except OSError as exc:
        return None, Problem(MANIFEST_FILE, None, f"cannot be read: {exc.strerror}")
    if not isinstance(doc, dict):
        return None, Problem(MANIFEST_FILE, None, f"expected a JSON object, got {type(doc).__name__}")
    files = doc.get("files", {})
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256", ""), str) for v in files.values()
    ):
        return None, Problem(MANIFEST_FILE, "files", "expected an object of {file: {sha256: ...}}")
    return doc, None


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks of `chunk` bytes (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_manifest(world: World) -> None:
    """Check each table file `world` read against the SHA-256 its manifest.json records.

    Raises `ContractError` naming every file that differs (or that the manifest lists but that is
    gone). Files the manifest does not list are not checked; a world without a manifest passes.
    """
    if not world.manifest:
        return
    listed = world.manifest.get("files", {})
    problems = []
    for f in world.files.values():
        entry = listed.get(f.name)
        if not entry or not entry.get("sha256"):
            continue
        if sha256_file(f) != entry["sha256"]:
            problems.append(
                Problem(
                    f.name,
                    None,
                    f"SHA-256 differs from {MANIFEST_FILE} (the file changed after it was written; "
                    "pass --no-verify to use it anyway)",
                )
            )
    if problems:
        raise ContractError(problems, source=str(world.path))


def manifest_sha256(world: str | Path) -> str | None:
    """SHA-256 of a world's manifest.json (what results and evaluations record), or None without one."""
    m = Path(world) / MANIFEST_FILE
    return sha256_file(m) if m.is_file() else None


def load_labels(path: str | Path) -> pl.DataFrame:
    """Ground-truth labels of a world (evaluation only); validated like any other table."""
    return load_world(path, tables=(LABELS,), check_references=False)["labels"].collect()
