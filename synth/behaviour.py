"""Behaviour tables shared by every group: models, topic mix, token lengths, diurnal and weekly cycles.

These are the assumptions behind the distributions (see README.md, "Assumptions").
"""

from __future__ import annotations

import numpy as np

from farmhunt.core.contract import TOPICS

MODELS: tuple[str, ...] = ("atlas-pro", "atlas-standard", "atlas-mini", "atlas-code", "atlas-legacy")
TOP_MODEL = 0
T = {t: i for i, t in enumerate(TOPICS)}

# Share of organic traffic per topic (the provider's classifier output).
TOPIC_POPULARITY = np.array([0.24, 0.07, 0.15, 0.22, 0.05, 0.015, 0.08, 0.06, 0.105])
TOPIC_POPULARITY /= TOPIC_POPULARITY.sum()

# log-token (mu, sigma) per topic: input then output.
TOKENS_IN = np.array([[6.6, 1.0], [5.3, 0.8], [5.2, 1.0], [4.6, 1.1], [8.0, 0.9], [5.9, 0.9],
                      [7.1, 1.1], [5.6, 0.9], [5.0, 1.1]])
TOKENS_OUT = np.array([[6.1, 0.8], [6.0, 0.8], [6.4, 0.7], [5.2, 0.9], [5.4, 0.9], [6.0, 0.8],
                       [5.8, 0.8], [5.6, 0.7], [5.2, 0.9]])

# P(model | topic), rows follow TOPICS, columns MODELS.
MODEL_BY_TOPIC = np.array([
    [0.30, 0.30, 0.10, 0.28, 0.02],  # coding
    [0.40, 0.40, 0.15, 0.03, 0.02],
    [0.25, 0.45, 0.25, 0.01, 0.04],
    [0.15, 0.40, 0.40, 0.01, 0.04],  # chat
    [0.45, 0.30, 0.05, 0.18, 0.02],  # agentic
    [0.35, 0.45, 0.10, 0.08, 0.02],
    [0.30, 0.45, 0.20, 0.03, 0.02],
    [0.10, 0.40, 0.45, 0.01, 0.04],
    [0.15, 0.40, 0.40, 0.01, 0.04],
])

# Diurnal profiles: 24 local-hour weights.
_HUMAN = [0.3, 0.2, 0.12, 0.08, 0.07, 0.1, 0.25, 0.5, 0.9, 1.2, 1.35, 1.35, 1.1, 1.2, 1.35, 1.35, 1.25,
          1.1, 0.95, 1.0, 1.1, 1.05, 0.85, 0.55]
_OFFICE = [0.03, 0.02, 0.02, 0.02, 0.02, 0.04, 0.1, 0.4, 1.2, 1.6, 1.7, 1.6, 1.0, 1.4, 1.65, 1.6, 1.4,
           1.0, 0.45, 0.2, 0.15, 0.1, 0.06, 0.04]
_STUDENT = [0.9, 0.65, 0.4, 0.2, 0.1, 0.06, 0.06, 0.1, 0.3, 0.6, 0.9, 1.1, 1.1, 1.2, 1.3, 1.3, 1.25,
            1.2, 1.1, 1.2, 1.35, 1.4, 1.35, 1.2]
_NIGHT = list(np.roll(_HUMAN, 6))
_FLAT = [1.0] * 24
_EVENING = [0.35, 0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.5, 0.5, 0.6, 0.7,
            0.9, 1.2, 1.6, 1.9, 1.9, 1.5, 0.9]


def _mixed_tz() -> list[float]:
    """A relay serving end users in Asia, Europe and the Americas: the sum of their days, in UTC."""
    h = np.array(_HUMAN)
    return list(0.4 * np.roll(h, -8) + 0.3 * np.roll(h, -1) + 0.3 * np.roll(h, 6) + 0.15)


PROFILES: dict[str, list[float]] = {
    "human": _HUMAN, "office": _OFFICE, "student": _STUDENT, "night": _NIGHT, "flat": _FLAT,
    "evening": _EVENING, "mixed_tz": _mixed_tz(),
}
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)
P = {n: i for i, n in enumerate(PROFILE_NAMES)}
# Weekday multipliers (Mon..Sun) per profile.
WEEK = {
    "human": [1.05, 1.05, 1.05, 1.05, 1.0, 0.85, 0.8], "office": [1.25, 1.3, 1.3, 1.25, 1.1, 0.12, 0.08],
    "student": [1.1, 1.1, 1.1, 1.05, 0.9, 0.7, 0.95], "night": [1.0, 1.0, 1.0, 1.0, 1.05, 1.0, 0.95],
    "flat": [1.0] * 7, "evening": [0.95, 0.95, 0.95, 0.95, 1.0, 1.1, 1.1], "mixed_tz": [1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.95],
}
WEEK_TABLE = np.array([WEEK[n] for n in PROFILE_NAMES])

QUANT = 4096  # resolution of the inverse-CDF lookup tables


class Categorical:
    """Category indices drawn with fixed probabilities `p`: exactly what `rng.choice(len(p), n, p=p)`
    returns for the same generator state, without validating `p` again on every call (that
    validation costs more than the draw for the small groups rings make)."""

    def __init__(self, p: np.ndarray | list[float]):
        cdf = np.asarray(p, float).cumsum()
        self.cdf = cdf / cdf[-1]

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.cdf.searchsorted(rng.random(n), side="right")


def quantile_table(weights: np.ndarray) -> np.ndarray:
    """Rows of categorical weights -> (rows, QUANT) lookup: value = table[row, int(u * QUANT)]."""
    w = np.asarray(weights, float)
    w = w / w.sum(axis=1, keepdims=True)
    cdf = np.cumsum(w, axis=1)
    u = (np.arange(QUANT) + 0.5) / QUANT
    return np.stack([np.searchsorted(c, u, side="right").clip(0, w.shape[1] - 1) for c in cdf]).astype(np.int16)


HOUR_Q = quantile_table(np.array([PROFILES[n] for n in PROFILE_NAMES]))
MODEL_Q = quantile_table(MODEL_BY_TOPIC)
TOPIC_Q = quantile_table(TOPIC_POPULARITY[None, :])[0]

# Capability-targeting topics a distillation operator extracts.
CAPABILITY_TOPICS = np.array([T["coding"], T["agentic"], T["cybersecurity"], T["math"]])
CAPABILITY_WEIGHTS = np.array([0.4, 0.3, 0.12, 0.18])

TEMPLATE_TEXT = {
    "coding": ["Write a complete, well-tested implementation of {w} in {lang}. Explain each design decision step by step.",
               "Refactor the following {lang} module for {w} and return the full code with docstrings:",
               "Solve this competitive programming problem about {w}. Give the reasoning, then optimal code."],
    "agentic": ["You are an autonomous agent with tools [search, shell, editor]. Goal: {w}. Think step by step and output each tool call.",
                "Plan and execute a multi-step task: {w}. Return a JSON trace of actions, observations and final answer."],
    "cybersecurity": ["Analyse this binary behaviour report about {w} and describe the exploitation chain in detail.",
                      "Explain how to detect and reverse-engineer {w}; include YARA rules and a full walkthrough."],
    "math": ["Prove the following statement about {w} rigorously. Show every step of your chain of thought.",
             "Solve: {w}. Give a detailed derivation and verify the final answer."],
    "writing": ["Rewrite this product description for {w} in a friendly tone:", "Summarise the article about {w} in five bullet points:"],
    "chat": ["Hey, quick question about {w}:", "Can you help me with {w}?"],
    "data_analysis": ["Given this CSV about {w}, compute summary statistics and suggest charts:"],
    "translation": ["Translate the following text about {w} into {lang}:"],
    "other": ["Classify this support ticket about {w} into one of: billing, bug, feature, other."],
}
LANGS = ("Python", "Rust", "Go", "TypeScript", "C++", "Java", "German", "Spanish", "Japanese", "French")
