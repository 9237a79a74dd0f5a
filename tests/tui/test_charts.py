"""Chart labels: counts on bars stay short and apart, so they read at 80 columns."""

from __future__ import annotations

from tui.widgets.charts import labelled, short_count


def test_bar_counts_are_at_most_six_characters() -> None:
    assert [short_count(n) for n in (0, 9_428, 10_000, 865_314, 1_266_123, 26_097_079)] == [
        "0", "9,428", "10k", "865k", "1.27M", "26.1M"
    ]
    assert all(len(short_count(n)) <= 6 for n in range(0, 10**9, 7_777_777))


def test_the_peak_is_labelled_and_no_label_sits_next_to_it() -> None:
    hours = list(range(24))
    assert labelled(hours, 3, 13) == [0, 3, 6, 9, 13, 15, 18, 21]  # 12 dropped: next to the peak
    assert labelled(hours, 3, 12) == [0, 3, 6, 9, 12, 15, 18, 21]
    assert labelled(hours, 3, None) == [0, 3, 6, 9, 12, 15, 18, 21]
    assert labelled(list(range(5)), 1, 2) == [0, 2, 4]
