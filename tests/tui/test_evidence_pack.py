"""Evidence packs with hostile data planted in the world: formulas neutralised in every CSV, emails and
phones masked in every free-text field, Markdown escaped, no absolute local paths."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from tests.tui.support import FARM_CID, make_fake_results, make_world
from tui.data import CaseData
from tui.decisions import DecisionStore
from tui.evidence_pack import MISSING, PACK_FILES, export_pack, mask_email, mask_phone
from tui.safe_output import mask_email_str, mask_phone_str, mask_text, md_text, neutralise_formulas

FORMULA = '=HYPERLINK("http://evil.example/x","click")'
PROMPT = "Summarise this and mail it to leak.person@example.org, or call +1 555 010 9999. Ticket #"
NOTE = "ops said: call +1 555 0100 7777, mail boss@corp.example =SUM(A1) | <b>bold</b> `code`\x1b]0;t\x07"
NOW = datetime(2026, 4, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[CaseData, list[str]]:
    """The fake results, with hostile values planted in the world's farm members."""
    base = tmp_path_factory.mktemp("pack")
    world = make_world(base / "world")
    results = make_fake_results(world, base / "results")
    members = (
        pl.read_parquet(results / "accounts.parquet").filter(pl.col("cluster_id") == FARM_CID)["account_id"].sort()
    ).to_list()
    acc = pl.read_parquet(world / "accounts.parquet")
    a0, a1, a2, a3 = members[:4]
    acc = acc.with_columns(
        email=pl.when(pl.col("account_id") == a0).then(pl.lit("a@b@c.com")).otherwise(pl.col("email")),
        phone=pl.when(pl.col("account_id") == a1)
        .then(pl.lit(None, pl.String))
        .when(pl.col("account_id") == a2)
        .then(pl.lit("+1 555 0100 2345"))
        .otherwise(pl.col("phone")),
        # a formula shared by two members: it is a shared value too
        org_id=pl.when(pl.col("account_id").is_in([a0, a3])).then(pl.lit(FORMULA)).otherwise(pl.col("org_id")),
        device_id=pl.when(pl.col("account_id") == a3).then(pl.lit("-2+3")).otherwise(pl.col("device_id")),
    )
    acc.write_parquet(world / "accounts.parquet")
    prompts = pl.read_parquet(world / "prompts.parquet")
    extra = prompts.head(2).with_columns(
        account_id=pl.Series([a0, a2]), text=pl.Series([PROMPT + "1", PROMPT + "2"])
    )
    pl.concat([prompts, extra]).write_parquet(world / "prompts.parquet")
    return CaseData(results), [a0, a1, a2, a3]


def _cells(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _pack_text(pack: Path) -> str:
    return "".join((pack / f).read_text(encoding="utf-8") for f in (*PACK_FILES, "manifest.json"))


def _decision(tmp_path: Path):
    with DecisionStore(tmp_path / "d.sqlite", who="ana") as s:
        return s.decide("cluster", FARM_CID, "confirmed_fraud", NOTE, reason="coordinated_activity")


def test_masked_pack_masks_every_free_text_field(planted, tmp_path: Path) -> None:
    data, (a0, a1, a2, _a3) = planted
    pack = export_pack(data, FARM_CID, tmp_path / "pack", mask=True, decision=_decision(tmp_path), now=NOW)
    text = _pack_text(pack)
    for secret in ("a@b@c.com", "b@c.com", "leak.person", "boss@corp", "555 010 9999", "0100 7777", "0100 2345"):
        assert secret not in text, secret
    members = pl.read_csv(pack / "members.csv", schema_overrides={"phone": pl.String})
    row = {r["account_id"]: r for r in members.iter_rows(named=True)}
    assert row[a0]["email"] == "a***@c.com"  # the domain is after the LAST '@'
    assert row[a1]["phone"] is None  # missing stays missing, not '****'
    assert row[a2]["phone"] == "**********45"  # no leading '+'
    assert members["email"].str.contains(r"^[a-z*]\*\*\*@").all()
    ties = pl.read_csv(pack / "shared_values.csv")
    prompt = ties.filter(pl.col("what") == "prompt template")["value"].to_list()
    assert any("l***@example.org" in v for v in prompt), prompt
    # the decision note: masked in the manifest and in the summary, escaped in the summary
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["masked"] is True and manifest["decision"]["reason"] == "coordinated_activity"
    assert manifest["decision"]["note"].startswith("ops said: call **********77, mail b***@corp.example =SUM(A1)")
    summary = (pack / "summary.md").read_text()
    assert "**********77" not in summary and "\\*" * 10 + "77" in summary
    assert "b\\*\\*\\*@corp.example" in summary and "reason: Coordinated activity" in summary
    # the missing phone is an em dash in the summary's member table
    line = next(x for x in summary.splitlines() if x.startswith(f"| {md_text(a1)} |"))
    assert f"| {MISSING} |" in line


def test_pack_csvs_carry_no_formula_and_summary_no_markup(planted, tmp_path: Path) -> None:
    data, (a0, _a1, a2, a3) = planted
    pack = export_pack(data, FARM_CID, tmp_path / "pack", mask=False, decision=_decision(tmp_path), now=NOW)
    for name in PACK_FILES:
        if name.endswith(".csv"):
            header, *rows = _cells(pack / name)
            numeric = {i for i, c in enumerate(header) if c in ("amount_usd", "risk", "n_requests", "spend_usd",
                                                                 "input_tokens", "output_tokens", "value", "baseline",
                                                                 "contribution", "members", "rank", "asn")}
            for r in rows:
                for i, cell in enumerate(r):
                    if i not in numeric or not cell.lstrip("-").replace(".", "").replace("e", "").isdigit():
                        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (name, header[i], cell)
    members = {r[0]: r for r in _cells(pack / "members.csv")[1:]}
    header = _cells(pack / "members.csv")[0]
    org, dev, phone = header.index("org_id"), header.index("device_id"), header.index("phone")
    assert members[a0][org] == "'" + FORMULA and members[a3][dev] == "'-2+3"
    assert members[a2][phone] == "'+1 555 0100 2345"  # unmasked, but inert
    ties = {(r[0], r[1]) for r in _cells(pack / "shared_values.csv")[1:]}
    assert ("organisation", "'" + FORMULA) in ties
    summary = (pack / "summary.md").read_text()
    assert "\x1b" not in summary and "\x07" not in summary
    assert "<b>" not in summary and "\\<b\\>bold\\</b\\>" in summary and "\\`code\\`" in summary
    assert "=SUM(A1) \\| " in summary  # a pipe in data cannot open a table cell
    # a shared-values row keeps its 3 cells although the value holds '|' and quotes
    ties_rows = [x for x in summary.splitlines() if x.startswith("| organisation |")]
    assert ties_rows and all(x.replace("\\|", "").count("|") == 4 for x in ties_rows)


def test_pack_names_results_and_world_without_local_paths(planted, tmp_path: Path) -> None:
    data, _ = planted
    pack = export_pack(data, FARM_CID, tmp_path / "pack", mask=True, now=NOW)
    text = _pack_text(pack)
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["results"] == "results" and manifest["world"] == "world"
    for local in (str(Path(data.results.path).resolve().parent), str(tmp_path), "/tmp/", "/root"):
        assert local not in text, local
    assert "- results: results; world: world" in (pack / "summary.md").read_text()


MASK_EMAIL_CASES = {
    "jake.miller1234@proton.me": "j***@proton.me",
    "a@b@c.com": "a***@c.com",
    "+tag@x.org": "****@x.org",
    "=cmd@evil.com": "****@evil.com",
    "@only.com": "***@only.com",
    "no-at-sign": "n***",
    "": "",
    None: None,
}


def test_mask_email_expression_and_text_helper_agree() -> None:
    frame = pl.DataFrame({"e": list(MASK_EMAIL_CASES)}, schema={"e": pl.String})
    got = frame.select(mask_email(pl.col("e")))["e"].to_list()
    assert got == list(MASK_EMAIL_CASES.values())
    assert [mask_email_str(k) if k is not None else None for k in MASK_EMAIL_CASES] == list(MASK_EMAIL_CASES.values())


def test_mask_phone_keeps_absent_absent_and_drops_the_plus() -> None:
    cases = {"+15550001234": "*********34", "+1 (555) 000-1234": "*********34", "12": "**", "": None,
             "n/a": None, None: None}
    got = pl.DataFrame({"p": list(cases)}, schema={"p": pl.String}).select(mask_phone(pl.col("p")))["p"].to_list()
    assert got == list(cases.values())
    assert [mask_phone_str(k) for k in cases] == list(cases.values())


def test_mask_text_finds_emails_and_phones_in_free_text_only() -> None:
    assert mask_text("write to jane.doe@x.org or +44 20 7946 0958 now") == "write to j***@x.org or **********58 now"
    assert mask_text("from a@b@c.com; call (555) 010-4477 or 555-010-4477") == (
        "from a***@c.com; call ********77 or ********77")
    untouched = "CVE-2025-1234 on 2026-03-02 10:00 from 143.41.114.7, order 1234567, -5 tokens"
    assert mask_text(untouched) == untouched


def test_neutralise_formulas_follows_owasp() -> None:
    df = pl.DataFrame({"s": ["=1+1", "+1 555", "-5", "@SUM(A1)", "\tx", "\rx", "ok", "a=b", None], "n": list(range(9))})
    out = neutralise_formulas(df)
    assert out["s"].to_list() == ["'=1+1", "'+1 555", "'-5", "'@SUM(A1)", "'\tx", "'\rx", "ok", "a=b", None]
    assert out["n"].to_list() == list(range(9))
