"""Prompt-bank breadth: many distinct templates per account, beyond what random prompts would hit."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from farmhunt.engine.polars.templates import template_share
from farmhunt.engine.settings import TemplateSettings


def _hash(low16: int, rest: int) -> int:
    # band 0 (the low 16 bits) carries the template value; the other bands are the request's own.
    return (rest << 16) | low16


def test_breadth_counts_distinct_bank_prompts_and_discounts_chance() -> None:
    s = TemplateSettings()
    bank = list(range(100, 140))  # 40 template values of band 0
    templates = pl.DataFrame({"band": [0] * len(bank), "value": bank}, schema={"band": pl.Int32, "value": pl.UInt64})
    rng = np.random.default_rng(3)
    rows = []
    # farm: 40 requests, each a different bank prompt, once each
    rows += [(0, _hash(v, int(rng.integers(1, 2**40)))) for v in bank]
    # app user: 40 requests repeating 2 of the templates
    rows += [(1, _hash(bank[i % 2], int(rng.integers(1, 2**40)))) for i in range(40)]
    # ordinary user: 40 random prompts (band 0 avoids the bank)
    rows += [(2, _hash(int(rng.integers(200, 2**16)), int(rng.integers(1, 2**40)))) for _ in range(40)]
    req = pl.LazyFrame(rows, schema={"acct": pl.UInt32, "prompt_hash": pl.UInt64}, orient="row")
    out = {a: (t, b) for a, t, b in template_share(req, templates, s).collect().sort("acct").iter_rows()}
    chance = 40 * len(bank) / 2**16
    assert out[0] == (1.0, pytest.approx(40 - chance))
    assert out[1] == (1.0, pytest.approx(2 - chance))
    assert out[2] == (0.0, 0.0)  # floored at zero


def test_no_templates_means_no_breadth() -> None:
    req = pl.LazyFrame({"acct": [0, 0], "prompt_hash": [1, 2]}, schema={"acct": pl.UInt32, "prompt_hash": pl.UInt64})
    empty = pl.DataFrame(schema={"band": pl.Int32, "value": pl.UInt64})
    assert template_share(req, empty, TemplateSettings()).collect().rows() == [(0, 0.0, 0.0)]
