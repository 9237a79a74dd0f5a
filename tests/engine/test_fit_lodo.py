"""Leave-one-design-out on a small sweep world: a design the fit never saw is still detected above a floor.

Issue 13 asks that abuse nobody modelled is still caught. Here the weights are fitted (with the shipped
fit settings) on a small scenario-sweep world *without any cluster or account of one design*, then that
design's accounts are scored: its recall must stay above the stated floor. The world is sweep seed 31
(neither the training seed 101 nor the test seed 202), scaled to about 200,000 requests.
"""

from __future__ import annotations

import polars as pl
import pytest

from farmhunt.engine.pipeline import detect_path
from farmhunt.engine.training import fit_table, load_training_world, rescore
from synth.estimate import scale_to_requests
from synth.generate import generate
from synth.presets import load_config

#: design left out of the fit -> recall floor on its accounts (measured 1.000 and 0.947 on the build of
#: session 6, whose sweep worlds draw paraphrase banks in every farm design; 1.00 and 1.00 before). Fitted
#: on this one small world, other designs left out were not caught before banks (account_takeover 0.09,
#: key_leak 0.0, mega_farm 0.0, content_farm 0.0, spread_card_testing 0.0, reseller_pool 0.61: their
#: family's evidence then rests on one or no other ring); the sweep's leave-one-design-out (fit on 16
#: worlds, tested on 10) is the real figure (README "Generalisation").
FLOORS = {"distillation_farm": 0.9, "enterprise_reseller": 0.9}


@pytest.fixture(scope="module")
def sweep_world(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("lodo") / "sw31"
    generate(scale_to_requests(load_config("sweep", seed=31), 200_000.0), out)
    res = detect_path(out, tmp_path_factory.mktemp("lodo-r") / "sw31")
    return load_training_world("sw31", out, res)


@pytest.mark.parametrize("design", sorted(FLOORS))
def test_a_design_left_out_of_the_fit_is_still_detected(sweep_world, design: str) -> None:
    members = sweep_world.members
    assert members.filter(pl.col("design") == design).height >= 5, f"the world has too few {design} accounts"
    table, summary = fit_table([sweep_world], exclude_group=design)
    acc = rescore(sweep_world.results, table).accounts.join(members.select("account_id", "design"), on="account_id")
    held_out = acc.filter(pl.col("design") == design)
    recall = float(held_out["flagged"].mean())
    print(f"[lodo] {design}: {held_out.height} accounts, recall {recall:.3f} with it left out of the fit")
    assert recall >= FLOORS[design]
    # the fit really did not see it: refitting with it gives other weights
    assert table != fit_table([sweep_world])[0]
