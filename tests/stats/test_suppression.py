"""Small-count suppression and the spike test, as functions: what is withheld, and that no line of
a table (nor its total) gives a withheld count away."""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from typing import Any

import pytest

from intake.stats import period_of, poisson_tail, suppress


def leaks(cells: dict[tuple[Any, ...], int], hidden: set[tuple[Any, ...]], k: int) -> list[Any]:
    """The lines (each field's, and the whole table) whose marginal minus the shown cells pins
    down a withheld count: one withheld cell, or withheld cells summing to under ``k``; each such
    line is one differencing attack of two queries (this table and one by a field fewer)."""
    width = len(next(iter(cells)))
    lines: list[list[tuple[Any, ...]]] = [list(cells)]
    for d in range(width):
        groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for key in cells:
            groups[key[:d] + key[d + 1 :]].append(key)
        lines.extend(groups.values())
    bad = []
    # A line of one cell is that cell: its marginal is small (and withheld) exactly when the cell
    # is. (A complement alone in a line can be chained across queries: docs/stats.md, known limit.)
    for line in (line for line in lines if len(line) > 1):
        withheld = [c for c in line if c in hidden]
        total = sum(cells[c] for c in line)
        if withheld and total >= k and (len(withheld) < 2 or sum(cells[c] for c in withheld) < k):
            bad.append(line)
    return bad


def test_one_small_cell_takes_the_next_smallest_with_it() -> None:
    cells = {("web",): 40, ("app",): 9, ("letter",): 1, ("phone",): 12}
    assert suppress(cells, 5) == {("letter",), ("app",)}


def test_two_small_cells_summing_under_the_threshold_take_a_third() -> None:
    # 1 + 1 = 2 withheld: the total minus the rest would say "both are 1".
    cells = {("a",): 1, ("b",): 1, ("c",): 7, ("d",): 30}
    assert suppress(cells, 5) == {("a",), ("b",), ("c",)}


def test_nothing_small_nothing_withheld() -> None:
    assert suppress({("a",): 5, ("b",): 50}, 5) == set()


def test_a_two_way_table_protects_rows_and_columns() -> None:
    cells = {("w", "x"): 20, ("w", "y"): 2, ("w", "z"): 30, ("v", "x"): 15, ("v", "y"): 25, ("v", "z"): 9}
    hidden = suppress(cells, 5)
    assert ("w", "y") in hidden and leaks(cells, hidden, 5) == []


@pytest.mark.parametrize("seed", range(200))
def test_random_tables_never_leak(seed: int) -> None:
    rng = random.Random(seed)
    dims = [[f"{d}{i}" for i in range(rng.randint(1, 5))] for d in "abc"[: rng.randint(1, 3)]]
    cells = {
        key: rng.choice([1, 2, 3, 4, 6, 9, 15, 40]) for key in itertools.product(*dims) if rng.random() < 0.8
    }
    if not cells:
        return
    k = rng.choice([3, 5, 10])
    hidden = suppress(cells, k)
    assert {c for c, n in cells.items() if n < k} <= hidden
    assert leaks(cells, hidden, k) == []


def test_poisson_tail() -> None:
    assert poisson_tail(0, 2.0) == 1.0
    assert math.isclose(poisson_tail(1, 2.0), 1 - math.exp(-2.0))
    exact = 1 - sum(math.exp(-1.0) / math.factorial(i) for i in range(5))
    assert math.isclose(poisson_tail(5, 1.0), exact, rel_tol=1e-9)
    assert poisson_tail(30, 0.5 / 28) < 1e-60  # thirty reports where there were none
    assert poisson_tail(3, 5.0) > 0.8  # fewer than usual is not a spike


def test_periods() -> None:
    assert [period_of("2025-09-28", p) for p in ("day", "week", "month", "quarter", "year")] == [
        "2025-09-28",
        "2025-W39",
        "2025-09",
        "2025Q3",
        "2025",
    ]
    assert period_of("2024-12-30", "week") == "2025-W01"  # ISO weeks
