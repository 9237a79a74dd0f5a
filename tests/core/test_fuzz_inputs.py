"""Fuzz suite: bad worlds, configs, results directories and output paths, generated here (no committed data).

Size (~500 lines): the case generators of the five input kinds and the one checker they share.

Every case runs the CLI in-process (`farmhunt.cli.main`) and asserts: exit code 2, a message naming
the file, column or key, no traceback, and nothing written or deleted (the case's whole directory is
hashed before and after). Worlds are built from `tests/paths.TINY` by mutating one table. The signal
cases run real subprocesses and live in `test_signals.py`. A summary count is printed at the end.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from farmhunt.cli import main
from tests.paths import TINY

OUTCOMES: Counter = Counter()


def tree_hash(root: Path) -> dict[str, str]:
    """Path -> SHA-256 (or 'dir') of everything under `root`, symlinks not followed."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_cli(args: list[str], capsys, cwd: Path) -> tuple[int, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        rc = main(args)
    finally:
        os.chdir(old)
    cap = capsys.readouterr()
    return rc, cap.err + cap.out


def assert_clean(kind: str, args: list[str], root: Path, capsys, expect: list[str], code: int = 2) -> str:
    """Run, then assert exit code, message fragments, no traceback, tree unchanged, no --out made."""
    before = tree_hash(root)
    rc, text = run_cli(args, capsys, root)
    after = tree_hash(root)
    ok = rc == code and "Traceback" not in text and before == after and all(e in text for e in expect)
    OUTCOMES[(kind, ok)] += 1
    assert rc == code, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    for e in expect:
        assert e in text, f"{e!r} not in:\n{text[-3000:]}"
    assert before == after, "the tree changed: " + str(set(before.items()) ^ set(after.items()))
    assert len(text) < 20_000, f"message of {len(text):,} characters"
    raw = [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0]
    assert not raw, f"control characters reached the terminal: {raw[:5]}"
    return text


# ---------------------------------------------------------------------------------------------
# Bad worlds: one table of TINY mutated (first rows), the manifest dropped so the mutation is what fails.
# ---------------------------------------------------------------------------------------------
EPOCH_1900 = pl.datetime(1900, 1, 1, time_zone="UTC")
YEAR_2099 = pl.datetime(2099, 1, 1, time_zone="UTC")
BIG = "x" * 1_000_000


@dataclass(frozen=True)
class Mutation:
    name: str
    table: str
    column: str
    value: Callable[[pl.Expr], pl.Expr]  # new value of `column` in the first `rows` rows
    expect: tuple[str, ...]
    rows: int = 3
    dtype: pl.DataType | None = None


def _lit(v, dtype=None) -> Callable[[pl.Expr], pl.Expr]:
    return lambda c: pl.lit(v, dtype) if dtype is not None else pl.lit(v)


MUTATIONS: list[Mutation] = []


def _m(table: str, column: str, value, expect: str | None = None, name: str | None = None, **kw) -> None:
    if isinstance(value, pl.Expr):
        fn = (lambda e: lambda c: e)(value)
    else:
        fn = value if callable(value) else _lit(value)
    label = name or f"{table}.{column}={value!r}"[:60]
    MUTATIONS.append(Mutation(label, table, column, fn, (f"{table}.parquet", expect or column), **kw))


# accounts
for v in ("PLATINUM", "FREE", " free", ""):
    _m("accounts", "plan", v, "column 'plan'")
for v in ("USA", "us", "U1", ""):
    _m("accounts", "country", v, "column 'country'")
for v in ("999.1.1.1", "1.2.3", "abc", "::1", "1.2.3.4 ", "01.2.3.4.5"):
    _m("accounts", "signup_ip", v, "column 'signup_ip'")
_m("accounts", "created_at", EPOCH_1900, "column 'created_at'", name="accounts.created_at=1900")
_m("accounts", "created_at", YEAR_2099, "column 'created_at'", name="accounts.created_at=2099")
_m("accounts", "email", pl.lit(None, pl.String), "column 'email'", name="accounts.email=null")
_m("accounts", "account_id", pl.lit("acct_dup"), "column 'account_id'", name="accounts.account_id dup")
_m("accounts", "created_at", pl.lit(5, pl.Int64), "column 'created_at'", name="accounts.created_at int dtype")
# payments
for v in ("DECLINED", " succeeded", "chargeback", "Succeeded"):
    _m("payments", "status", v, "column 'status'")
for v in ("gift", "CREDIT"):
    _m("payments", "card_funding", v, "column 'card_funding'")
for v in ("12345", "12345a", "1234567", "４１１１１１"):
    _m("payments", "card_bin", v, "column 'card_bin'")
for v in (math.nan, math.inf, -math.inf, -5.0):
    _m("payments", "amount_usd", pl.lit(v, pl.Float64), "column 'amount_usd'", name=f"payments.amount_usd={v}")
_m("payments", "card_country", "xx", "column 'card_country'")
_m("payments", "ts", EPOCH_1900, "column 'ts'", name="payments.ts=1900")
_m("payments", "account_id", "acct_nobody", "column 'account_id'")
_m("payments", "account_id", "[link=https://evil.example]x[/link]", "[link=https://evil.example]")
_m("payments", "account_id", "acct_\x1b]0;pwned\x07\x1b[2J", "\\x1b]0;pwned")
_m("payments", "account_id", "[/]", "'[/]'")
_m("payments", "account_id", BIG, "…", name="payments.account_id 1 MB", rows=1)
# api_keys
_m(
    "api_keys",
    "revoked_at",
    lambda c: pl.col("created_at") - pl.duration(days=1),
    "revoked_at before created_at",
    name="api_keys.revoked_at < created_at",
)
_m("api_keys", "created_at", YEAR_2099, "column 'created_at'", name="api_keys.created_at=2099")
_m("api_keys", "key_id", pl.lit("key_dup"), "column 'key_id'", name="api_keys.key_id dup")
# asns
for v in ("satellite", "Hosting", "hosting "):
    _m("asns", "kind", v, "column 'kind'")
_m("asns", "asn", pl.lit(-1, pl.Int32), "column 'asn'", name="asns.asn=-1", rows=1)
# requests (checked in the request store's pass)
for v in ("poetry", "CODING"):
    _m("requests", "topic", v, "column 'topic'")
for v in ("1.2.3", "300.1.1.1", "host.example"):
    _m("requests", "ip", v, "column 'ip'")
_m("requests", "input_tokens", pl.lit(-1, pl.Int32), "column 'input_tokens'", name="requests.input_tokens=-1")
_m("requests", "output_tokens", pl.lit(-5, pl.Int32), "column 'output_tokens'", name="requests.output_tokens=-5")
_m("requests", "ts", YEAR_2099, "column 'ts'", name="requests.ts=2099")
_m("requests", "ts", pl.datetime(1970, 1, 1, time_zone="UTC"), "column 'ts'", name="requests.ts=1970")
_m("requests", "account_id", "acct_nobody", "column 'account_id'")
_m("requests", "key_id", "key_nobody", "column 'key_id'")
_m("requests", "asn", pl.lit(123456789, pl.Int32), "column 'asn'", name="requests.asn unknown")
_m("requests", "account_id", pl.lit(None, pl.String), "column 'account_id'", name="requests.account_id=null")
# prompts
_m("prompts", "ts", EPOCH_1900, "column 'ts'", name="prompts.ts=1900")


def _copy_world(dst: Path, manifest: bool = False) -> Path:
    dst.mkdir(parents=True)
    for f in TINY.iterdir():
        if f.name == "manifest.json" and not manifest:
            continue
        shutil.copyfile(f, dst / f.name)
    return dst


def _apply(df: pl.DataFrame, m: Mutation) -> pl.DataFrame:
    """`df` with `m.column` of the first `m.rows` rows replaced (the whole column if the dtype changes)."""
    new = m.value(pl.col(m.column))
    dtype = df.head(1).select(new.alias("v")).schema["v"]
    if dtype not in (pl.Null, df.schema[m.column]):
        return df.with_columns(new.alias(m.column))
    idx = pl.int_range(pl.len()) < m.rows
    return df.with_columns(pl.when(idx).then(new).otherwise(pl.col(m.column)).alias(m.column))


@pytest.mark.parametrize("m", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_bad_world(m: Mutation, tmp_path: Path, capsys) -> None:
    world = _copy_world(tmp_path / "w")
    df = _apply(pl.read_parquet(world / f"{m.table}.parquet"), m)
    df.write_parquet(world / f"{m.table}.parquet")
    assert_clean("world", ["detect", "w", "--out", "out", "-q"], tmp_path, capsys, list(m.expect))
    assert not (tmp_path / "out").exists()


def _flip_data_page(path: Path, column: str) -> None:
    """Damage a data page of `column` in place, leaving the footer (metadata) intact."""
    md = pq.ParquetFile(path).metadata
    rg = md.row_group(0)
    col = next(rg.column(i) for i in range(rg.num_columns) if rg.column(i).path_in_schema == column)
    start = col.data_page_offset
    raw = bytearray(path.read_bytes())
    for i in range(start + 24, min(start + col.total_compressed_size, start + 24 + 4096)):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))


FILE_CASES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "requests page damaged": (lambda w: _flip_data_page(w / "requests.parquet", "output_tokens"), ("requests.parquet",)),
    "accounts page damaged": (lambda w: _flip_data_page(w / "accounts.parquet", "email"), ("accounts.parquet",)),
    "payments page damaged": (lambda w: _flip_data_page(w / "payments.parquet", "amount_usd"), ("payments.parquet",)),
    "requests footer cut": (
        lambda w: (w / "requests.parquet").write_bytes((w / "requests.parquet").read_bytes()[:-100]),
        ("requests.parquet",),
    ),
    "requests is a directory": (
        lambda w: ((w / "requests.parquet").unlink(), (w / "requests.parquet").mkdir()),
        ("requests.parquet", "not a regular file"),
    ),
    "accounts empty file": (lambda w: (w / "accounts.parquet").write_bytes(b""), ("accounts.parquet",)),
    "accounts missing": (lambda w: (w / "accounts.parquet").unlink(), ("accounts.parquet", "missing file")),
    "accounts csv garbage": (
        lambda w: ((w / "accounts.parquet").unlink(), (w / "accounts.csv").write_bytes(b"\xff\xfe\x00garbage\n1,2\n")),
        ("accounts.csv",),
    ),
    "manifest is a directory": (lambda w: (w / "manifest.json").mkdir(), ("manifest.json", "not a regular file")),
    "manifest not JSON": (lambda w: (w / "manifest.json").write_text("{nope"), ("manifest.json", "not valid JSON")),
    "manifest is a list": (lambda w: (w / "manifest.json").write_text("[]"), ("manifest.json", "JSON object")),
    "manifest files wrong": (
        lambda w: (w / "manifest.json").write_text('{"files": 5}'),
        ("manifest.json", "files"),
    ),
    "manifest not UTF-8": (lambda w: (w / "manifest.json").write_bytes(b"\xff\xfe{}"), ("manifest.json",)),
    "world is a file": (lambda w: (shutil.rmtree(w), w.write_text("x")), ("w", "not a directory")),
    "world path with markup": (lambda w: None, ("w[/]",)),
}


def _sha_mismatch(w: Path, name: str) -> None:
    m = json.loads((TINY / "manifest.json").read_text())
    m["files"][name]["sha256"] = "0" * 64
    (w / "manifest.json").write_text(json.dumps(m))


for _t in ("requests", "accounts", "payments", "prompts"):
    FILE_CASES[f"manifest sha mismatch {_t}"] = (
        (lambda t: lambda w: _sha_mismatch(w, f"{t}.parquet"))(_t),
        (f"{_t}.parquet", "SHA-256 differs"),
    )


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_bad_file(case: str, tmp_path: Path, capsys) -> None:
    w = _copy_world(tmp_path / "w")
    mutate, expect = FILE_CASES[case]
    mutate(w)
    world = "w[/]" if case == "world path with markup" else "w"
    assert_clean("file", ["detect", world, "--out", "out", "-q"], tmp_path, capsys, list(expect))
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# Bad configs: detection settings, generator config, eval thresholds.
# ---------------------------------------------------------------------------------------------
DETECT_CONFIGS: dict[str, tuple[str | bytes, str]] = {
    "rows_per_part=0": ("[store]\nrows_per_part = 0\n", "store.rows_per_part"),
    "rows_per_part<0": ("[store]\nrows_per_part = -5\n", "store.rows_per_part"),
    "sync_band_rows=0": ("[linkage]\nsync_band_rows = 0\n", "linkage.sync_band_rows"),
    "sync_bucket_seconds=0": ("[linkage]\nsync_bucket_seconds = 0\n", "linkage.sync_bucket_seconds"),
    "sync_bucket_seconds<0": ("[linkage]\nsync_bucket_seconds = -600\n", "linkage.sync_bucket_seconds"),
    "isolation_trees=0": ("[scoring]\nisolation_trees = 0\n", "scoring.isolation_trees"),
    "scoring.seed<0": ("[scoring]\nseed = -1\n", "scoring.seed"),
    "communities.seed<0": ("[communities]\nseed = -3\n", "communities.seed"),
    "string weight": ('[linkage.weights]\ncard = "heavy"\n', "linkage.weights.card"),
    "unknown weight cardd": ("[linkage.weights]\ncardd = 1.0\n", "linkage.weights.cardd"),
    "negative weight": ("[linkage.weights]\ndevice = -1.0\n", "linkage.weights.device"),
    "nan weight": ("[linkage.weights]\ndevice = nan\n", "linkage.weights.device"),
    "resolution nan": ("[communities]\nresolution = nan\n", "communities.resolution"),
    "resolution inf": ("[communities]\nresolution = inf\n", "communities.resolution"),
    "resolution 0": ("[communities]\nresolution = 0.0\n", "communities.resolution"),
    "negative flag_threshold": ("[scoring]\nflag_threshold = -0.5\n", "scoring.flag_threshold"),
    "flag_threshold > 1": ("[scoring]\nflag_threshold = 1.5\n", "scoring.flag_threshold"),
    "night_hours 25,-1": ("[features]\nnight_hours = [25, -1]\n", "features.night_hours[0]"),
    "capability topic": ('[features]\ncapability_topics = ["poetry"]\n', "features.capability_topics"),
    "min_size=0": ("[communities]\nmin_size = 0\n", "communities.min_size"),
    "evidence_top=-1": ("[scoring]\nevidence_top = -1\n", "scoring.evidence_top"),
    "n_iterations=0": ("[communities]\nn_iterations = 0\n", "communities.n_iterations"),
    "band_bits=7": ("[templates]\nband_bits = 7\n", "templates.band_bits"),
    "band_bits=64": ("[templates]\nband_bits = 64\n", "templates.band_bits"),
    "min_share=2": ("[templates]\nmin_share = 2.0\n", "templates.min_share"),
    "max_clique=1": ("[linkage]\nmax_clique = 1\n", "linkage.max_clique"),
    "sync_max_density=0": ("[linkage]\nsync_max_density = 0.0\n", "linkage.sync_max_density"),
    "bool as int": ("[scoring]\nisolation_trees = true\n", "scoring.isolation_trees"),
    "unknown section": ("[scorin]\nseed = 1\n", "scorin"),
    "unknown key": ("[scoring]\nsed = 1\n", "scoring.sed"),
    "not UTF-8": (b"[scoring]\nseed = 1 # \xff\xfe\n", "not UTF-8"),
    "not TOML": ("[scoring\n", "not valid TOML"),
    "markup in key": ('[scoring]\n"[/]" = 1\n', "[/]"),
}


@pytest.mark.parametrize("case", list(DETECT_CONFIGS))
def test_bad_detect_config(case: str, tmp_path: Path, capsys) -> None:
    text, expect = DETECT_CONFIGS[case]
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(text if isinstance(text, bytes) else text.encode())
    os.symlink(TINY, tmp_path / "w")
    assert_clean("config", ["detect", "w", "--out", "out", "-q", "--config", "c.toml"], tmp_path, capsys, [expect])


SYNTH_CONFIGS: dict[str, tuple[str, str]] = {
    "seed<0": ("seed = -1\n", "seed"),
    "days=0": ("days = 0\n", "days"),
    "benign.accounts=0": ("[benign]\naccounts = 0\n", "benign.accounts"),
    "rate_median nan": ("[benign]\nrate_median = nan\n", "benign.rate_median"),
    "vpn_frac>1": ("[benign]\nvpn_frac = 1.5\n", "benign.vpn_frac"),
    "plan_mix inf": ("[benign]\nplan_mix = [inf, 1.0, 1.0, 1.0]\n", "benign.plan_mix"),
    "unknown key": ("sede = 1\n", "sede"),
    "prompt_sample_rate<0": ("prompt_sample_rate = -0.1\n", "prompt_sample_rate"),
}


@pytest.mark.parametrize("case", list(SYNTH_CONFIGS))
def test_bad_synth_config(case: str, tmp_path: Path, capsys) -> None:
    text, expect = SYNTH_CONFIGS[case]
    (tmp_path / "c.toml").write_text(text)
    assert_clean("config", ["synth", "--out", "out", "--quiet", "--config", "c.toml"], tmp_path, capsys, [expect])


def test_negative_seed_option(tmp_path: Path, capsys) -> None:
    assert_clean("config", ["synth", "--out", "out", "--quiet", "--seed", "-1"], tmp_path, capsys, ["seed"])


EVAL_CONFIGS: dict[str, tuple[str, str]] = {
    "min_recall<0": ("min_recall = -0.1\n", "min_recall"),
    "min_precision nan": ("min_precision = nan\n", "min_precision"),
    "coverage>1": ("coverage = 1.5\n", "coverage"),
    "coverage=0": ("coverage = 0.0\n", "coverage"),
    "ring_min_size=0": ("ring_min_size = 0\n", "ring_min_size"),
    "unknown key": ("min_recal = 0.5\n", "min_recal"),
}


@pytest.mark.parametrize("case", list(EVAL_CONFIGS))
def test_bad_eval_config(case: str, tmp_path: Path, capsys) -> None:
    text, expect = EVAL_CONFIGS[case]
    (tmp_path / "g.toml").write_text(text)
    os.symlink(TINY, tmp_path / "w")
    args = ["eval", "results", "--labels", "w", "--config", "g.toml", "-q"]
    assert_clean("config", args, tmp_path, capsys, [expect])


# ---------------------------------------------------------------------------------------------
# Bad results directories (eval and detect --previous read them through load_results).
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    from farmhunt.engine.pipeline import detect_path

    out = tmp_path_factory.mktemp("res") / "results"
    detect_path(TINY, out)
    return out


def _run_json(text: str | bytes) -> Callable[[Path], None]:
    def f(r: Path) -> None:
        (r / "run.json").write_bytes(text if isinstance(text, bytes) else text.encode())

    return f


RESULT_CASES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "run.json []": (_run_json("[]"), ("run.json", "JSON object")),
    'run.json {"world": 5}': (_run_json('{"world": 5}'), ("run.json", "world")),
    "run.json counts string": (_run_json('{"counts": "many"}'), ("run.json", "counts")),
    "run.json world.path int": (_run_json('{"world": {"path": 7}}'), ("run.json", "world.path")),
    "run.json stages wrong": (_run_json('{"stages": {"load": 3}}'), ("run.json", "stages.load")),
    "run.json null": (_run_json("null"), ("run.json",)),
    "run.json not JSON": (_run_json("{"), ("run.json", "not valid JSON")),
    "run.json not UTF-8": (_run_json(b"\xff\xfe"), ("run.json",)),
    "run.json is a directory": (lambda r: ((r / "run.json").unlink(), (r / "run.json").mkdir()), ("run.json",)),
    "run.json missing": (lambda r: (r / "run.json").unlink(), ("run.json", "missing file")),
    "accounts missing": (lambda r: (r / "accounts.parquet").unlink(), ("accounts.parquet",)),
    "accounts damaged": (lambda r: (r / "accounts.parquet").write_bytes(b"PAR1garbage"), ("accounts.parquet",)),
    "clusters wrong dtype": (
        lambda r: pl.read_parquet(r / "clusters.parquet")
        .with_columns(pl.col("risk").cast(pl.String))
        .write_parquet(r / "clusters.parquet"),
        ("clusters.parquet", "risk"),
    ),
    "evidence missing column": (
        lambda r: pl.read_parquet(r / "evidence.parquet").drop("text").write_parquet(r / "evidence.parquet"),
        ("evidence.parquet", "text"),
    ),
    "results is a file": (lambda r: (shutil.rmtree(r), r.write_text("x")), ("results",)),
}


@pytest.mark.parametrize("case", list(RESULT_CASES))
def test_bad_results(case: str, results_dir: Path, tmp_path: Path, capsys) -> None:
    r = tmp_path / "results"
    shutil.copytree(results_dir, r)
    os.symlink(TINY, tmp_path / "w")
    mutate, expect = RESULT_CASES[case]
    mutate(r)
    args = ["eval", "results", "--labels", "w", "--json", "e.json", "-q"]
    assert_clean("results", args, tmp_path, capsys, list(expect))
    assert not (tmp_path / "e.json").exists()


# ---------------------------------------------------------------------------------------------
# Output paths: the --out rule (README "Safety"). The world is a copy, so it can be hashed too.
# ---------------------------------------------------------------------------------------------
def _prep_keep(root: Path) -> None:
    (root / "d").mkdir()
    (root / "d" / "keep").write_text("mine")


def _prep_file(root: Path) -> None:
    (root / "README.md").write_text("# mine\n")


OUT_CASES: dict[str, tuple[Callable[[Path], None], list[str], list[str]]] = {
    "detect w --out w": (lambda r: None, ["detect", "w", "--out", "w", "-q"], ["--out 'w'", "input"]),
    "detect --out .": (lambda r: None, ["detect", "w", "--out", ".", "-q"], ["--out '.'", "current directory"]),
    "detect --out ..": (lambda r: None, ["detect", "w", "--out", "..", "-q"], ["--out '..'", "ancestor"]),
    "detect --out /": (lambda r: None, ["detect", "w", "--out", "/", "-q"], ["--out '/'"]),
    "detect --out ~": (lambda r: None, ["detect", "w", "--out", "~", "-q"], ["home directory"]),
    "detect --out parent of input": (
        lambda r: ((r / "p").mkdir(), (r / "w").rename(r / "p" / "w")),
        ["detect", "p/w", "--out", "p", "-q"],
        ["contains the input"],
    ),
    "detect --out d (holds keep)": (_prep_keep, ["detect", "w", "--out", "d", "-q"], ["--out 'd'", "'keep'", "--force"]),
    "detect --out FILE": (_prep_file, ["detect", "w", "--out", "README.md", "-q"], ["existing file"]),
    "detect --out FILE/sub": (_prep_file, ["detect", "w", "--out", "README.md/sub", "-q"], ["is a file"]),
    "detect --out /proc/x": (lambda r: None, ["detect", "w", "--out", "/proc/x", "-q"], ["cannot be created"]),
    "detect --out config": (
        lambda r: (r / "c.toml").write_text(""),
        ["detect", "w", "--out", "c.toml", "--config", "c.toml", "-q"],
        ["input"],
    ),
    "detect --force keeps input rule": (
        lambda r: None,
        ["detect", "w", "--out", "w", "--force", "-q"],
        ["input"],
    ),
    "detect --out a world (other kind)": (
        lambda r: shutil.copytree(r / "w", r / "w2"),
        ["detect", "w", "--out", "w2", "-q"],
        ["not an earlier output of farmhunt detect"],
    ),
    "synth --out README.md": (_prep_file, ["synth", "--out", "README.md", "--quiet"], ["existing file"]),
    "synth --out d (holds keep)": (_prep_keep, ["synth", "--out", "d", "--quiet"], ["'keep'"]),
    "synth --out .": (lambda r: None, ["synth", "--out", ".", "--quiet"], ["current directory"]),
    "replay w --out w": (lambda r: None, ["replay", "w", "--out", "w", "-q"], ["input"]),
    "replay --out d": (_prep_keep, ["replay", "w", "--out", "d", "-q"], ["'keep'"]),
    "eval --json README.md": (
        _prep_file,
        ["eval", "results", "--labels", "w", "--json", "README.md", "-q"],
        ["--json 'README.md'", "--force"],
    ),
    "eval --junit dir": (_prep_keep, ["eval", "results", "--labels", "w", "--junit", "d", "-q"], ["--junit 'd'"]),
    "eval --report input": (
        lambda r: None,
        ["eval", "results", "--labels", "w", "--report", "w/labels.parquet", "-q"],
        ["--report", "part of the input"],
    ),
    "eval --report input --force": (
        lambda r: None,
        ["eval", "results", "--labels", "w", "--report", "w/labels.parquet", "--force", "-q"],
        ["part of the input"],
    ),
    "detect --out inside input, existing": (
        lambda r: (r / "w" / "sub").mkdir(),
        ["detect", "w", "--out", "w/sub", "--force", "-q"],
        ["part of the input"],
    ),
    "bench --out d (holds keep)": (_prep_keep, ["bench", "--out", "d", "--world", "w"], ["'keep'"]),
}


@pytest.mark.parametrize("case", list(OUT_CASES))
def test_out_rule(case: str, tmp_path: Path, capsys, monkeypatch) -> None:
    root = tmp_path / "root"
    _copy_world(root / "w", manifest=True)
    (root / "results").mkdir()
    prep, args, expect = OUT_CASES[case]
    prep(root)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert_clean("out", args, root, capsys, expect)


def test_zz_summary(capsys) -> None:
    """Print the suite's counts (cases run here, handled cleanly); run last by name."""
    kinds = sorted({k for k, _ in OUTCOMES})
    total = sum(OUTCOMES.values())
    clean = sum(n for (k, ok), n in OUTCOMES.items() if ok)
    with capsys.disabled():
        print(f"\nfuzz inputs: {total} cases, {clean} handled cleanly")
        for k in kinds:
            print(f"  {k}: {OUTCOMES[(k, True)] + OUTCOMES[(k, False)]} cases, {OUTCOMES[(k, True)]} clean")
    if total:  # when run alone this test has nothing to count
        assert clean == total
