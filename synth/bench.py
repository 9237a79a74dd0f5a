"""`python -m synth.bench`: end-to-end generation speed (request rows/s) and peak memory.

Runs each world in a fresh subprocess so peak RSS is that world's alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time


def _child(preset: str, n_requests: float | None, out: str) -> None:
    from synth.presets import preset as get_preset
    from synth.estimate import scale_to_requests
    from synth.generate import generate

    cfg = get_preset(preset)
    if n_requests:
        cfg = scale_to_requests(cfg, n_requests)
    t = time.perf_counter()
    summary = generate(cfg, out, "parquet")
    secs = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"preset": preset, "target": n_requests, "accounts": summary["rows"]["accounts"],
                      "requests": summary["rows"]["requests"], "seconds": round(secs, 2),
                      "rows_per_s": round(summary["rows"]["requests"] / secs), "peak_rss_mb": round(rss_mb)}))


def run(preset: str, n_requests: float | None = None) -> dict:
    """Generate one world in a subprocess; return its figures."""
    with tempfile.TemporaryDirectory(prefix="synth-bench-") as tmp:
        cmd = [sys.executable, "-m", "synth.bench", "--child", preset, "--out", f"{tmp}/world"]
        if n_requests:
            cmd += ["--requests", str(n_requests)]
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--requests", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--seed-scale", action="store_true", help="also run the full seed-scale preset (minutes)")
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child, a.requests, a.out)
        return
    runs = [("demo", None), ("demo", 10e6)] + ([("seed-scale", None)] if a.seed_scale else [])
    print(f"{'world':<22}{'accounts':>12}{'requests':>14}{'seconds':>10}{'rows/s':>14}{'peak RSS MB':>13}")
    for preset, n in runs:
        r = run(preset, n)
        name = preset if not n else f"{preset} -> {n / 1e6:.0f}M"
        print(f"{name:<22}{r['accounts']:>12,}{r['requests']:>14,}{r['seconds']:>10.1f}"
              f"{r['rows_per_s']:>14,}{r['peak_rss_mb']:>13,}", flush=True)


if __name__ == "__main__":
    main()
