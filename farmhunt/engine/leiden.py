"""Seeded Leiden: igraph's community_leiden with its random generator seeded for the one call.

igraph draws from one process-wide generator; seeding it for the call and restoring Python's `random`
afterwards makes every Leiden run a pure function of its graph, arguments and seed (communities,
prompt banks and operator communities all use it)."""

from __future__ import annotations

import random
from typing import Any

import igraph as ig


def seeded_leiden(graph: ig.Graph, seed: int, **kwargs: Any) -> ig.VertexClustering:
    """`graph.community_leiden(**kwargs)` with igraph's generator seeded by `seed` for this call only."""
    ig.set_random_number_generator(random.Random(seed))
    try:
        return graph.community_leiden(**kwargs)
    finally:
        ig.set_random_number_generator(random)
