"""The polars engine: the big-table stages in polars (and numpy) on this machine, part by part."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa

from farmhunt.core.world import World
from farmhunt.engine.base import EDGE_SCHEMA, SHARED_SCHEMA, TEMPLATE_SCHEMA, Linkage
from farmhunt.engine.polars.families import write_families
from farmhunt.engine.polars.features import account_features
from farmhunt.engine.polars.linkage import build_linkage
from farmhunt.engine.polars.request_store import build_store
from farmhunt.engine.polars.templates import find_templates
from farmhunt.engine.settings import FeatureSettings, LinkageSettings, StoreSettings, TemplateSettings
from farmhunt.engine.store import RequestStore


class PolarsEngine:
    """`Engine` on polars: each stage reads the request store one part (a range of accounts) at a time."""

    name = "polars"

    def build_store(self, world: World, path: Path, settings: StoreSettings) -> RequestStore:
        return build_store(world, path, settings.rows_per_part)

    def templates(self, store: RequestStore, settings: TemplateSettings) -> pa.Table:
        # Prompt families (paraphrases beyond the bands' 3 bits) are kept beside the store for features and linkage.
        n_accounts = store.accounts().select(pl.len()).collect().item()

        def parts() -> Iterator[pl.LazyFrame]:  # both read only these two columns of the store
            return store.parts(("acct", "prompt_hash"))

        write_families(store.path, parts, n_accounts, settings)
        return find_templates(parts, settings).to_arrow().cast(TEMPLATE_SCHEMA)

    def features(
        self,
        world: World,
        store: RequestStore,
        templates: pa.Table,
        settings: FeatureSettings,
        template_settings: TemplateSettings,
    ) -> pa.Table:
        lf = account_features(world, store, _frame(templates), settings, template_settings)
        return lf.collect(engine="streaming").to_arrow()

    def linkage(
        self,
        world: World,
        store: RequestStore,
        templates: pa.Table,
        template_settings: TemplateSettings,
        settings: LinkageSettings,
    ) -> Linkage:
        lazy_edges, shared = build_linkage(world, store, _frame(templates), template_settings, settings)
        edges = lazy_edges.collect(engine="streaming").select("src", "dst", "weight", "reasons")
        return Linkage(
            edges=edges.to_arrow().cast(EDGE_SCHEMA),
            shared=shared.select("account_id", "signal", "value", "n_accounts").to_arrow().cast(SHARED_SCHEMA),
        )


def _frame(table: pa.Table) -> pl.DataFrame:
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    return out


__all__ = ["PolarsEngine"]
