"""The engine seam: the four stages that touch the big tables, behind one small protocol.

An engine turns a validated world into the tables every later stage works on: the request store
(written in the one store format of `farmhunt.engine.store`), the prompt-template table, the
account-features table, and the linkage edge list with the shared values behind it. Inputs and
outputs are Arrow tables, so an engine may compute them anywhere (polars in this process, Spark on
a cluster). Communities, scoring and results are small-table stages shared by every engine (`farmhunt.engine.pipeline`).

A new engine implements `Engine` and registers itself in `farmhunt.engine.registry`; the conformance
suite (`tests/engine/test_conformance.py`) then runs it against the polars engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa

from farmhunt.core.world import World
from farmhunt.engine.settings import FeatureSettings, LinkageSettings, StoreSettings, TemplateSettings
from farmhunt.engine.store import RequestStore

#: Arrow schemas of what engines return (features: account_id first, then any feature columns).
TEMPLATE_SCHEMA = pa.schema(
    [("band", pa.int32()), ("value", pa.uint64()), ("n_requests", pa.uint32()), ("n_accounts", pa.uint32())]
)
EDGE_SCHEMA = pa.schema(
    [("src", pa.string()), ("dst", pa.string()), ("weight", pa.float64()), ("reasons", pa.list_(pa.string()))]
)
#: Values shared by 2+ accounts (request IPs and templates as the store's codes): what edges are built from.
SHARED_SCHEMA = pa.schema(
    [("account_id", pa.string()), ("signal", pa.string()), ("value", pa.string()), ("n_accounts", pa.uint32())]
)


@dataclass(frozen=True)
class Linkage:
    """The linkage stage's output: the edge list (EDGE_SCHEMA) and the shared values (SHARED_SCHEMA)."""

    edges: pa.Table
    shared: pa.Table


@runtime_checkable
class Engine(Protocol):
    """The big-table stages of detection. Every method is a pure function of its inputs."""

    name: str

    def build_store(self, world: World, path: Path, settings: StoreSettings) -> RequestStore:
        """Encode and check the world's request table into a new store directory at `path`."""
        ...

    def templates(self, store: RequestStore, settings: TemplateSettings) -> pa.Table:
        """Prompt-template band values (TEMPLATE_SCHEMA)."""
        ...

    def features(
        self,
        world: World,
        store: RequestStore,
        templates: pa.Table,
        settings: FeatureSettings,
        template_settings: TemplateSettings,
    ) -> pa.Table:
        """One row per account of the world, sorted by account_id."""
        ...

    def linkage(
        self,
        world: World,
        store: RequestStore,
        templates: pa.Table,
        template_settings: TemplateSettings,
        settings: LinkageSettings,
    ) -> Linkage:
        """The linkage graph (one row per pair, src < dst, sorted by (src, dst)) and the shared values
        (sorted by signal, value, account_id)."""
        ...
