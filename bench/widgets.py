"""Wall time of each lesson's widget function over its slider grid (not a timed test).

Every slider position re-runs a simulation through the lesson's pure function; the
course's bar is that a widget-driven run feels instant (< 0.3 s). This walks each
widget's slider ranges (a few values per slider: the ends and the middle), times
every combination (best of 2, simulation only, no drawing) and reports the median
and the worst. Run with `make bench` or `python bench/widgets.py`.
"""

import itertools
import statistics
import sys
import time

from labkit.lessons import lesson01, lesson02, lesson03, lesson04, lesson05, lesson06


def _ends_and_middle(lo, hi, step=1):
    mid = lo + round((hi - lo) / 2 / step) * step
    return sorted({lo, mid, hi})


WIDGETS = [
    ("01 counter race", lesson01.counter_race,
     dict(concurrency=_ends_and_middle(1, 50), work_ms=_ends_and_middle(0, 200, 10))),
    ("02 keep-alive", lesson02.keep_alive,
     dict(calls_per_min=_ends_and_middle(0.05, 3.0, 0.05), idle_min=_ends_and_middle(1.0, 30.0, 1.0))),
    ("03 source outcomes", lesson03.source_outcomes,
     dict(reserved_concurrency=_ends_and_middle(5, 40, 5), burst=_ends_and_middle(20, 300, 20))),
    ("04 peak connections", lesson04.peak_connections_and_errors,
     dict(reserved_concurrency=[None, 10, 40], pool_size=[1, 2], remedy=list(lesson04.WIDGET_REMEDIES))),
    ("05 edit documents", lesson05.edit_documents,
     dict(route=list(lesson05.ROUTES), shards=[1, 8], parallelization_factor=[1, 10], documents=[1, 40])),
    ("06 scavenge", lesson06.scavenge,
     dict(memory_mb=_ends_and_middle(128, 1024, 32), readers=[1, 16], deleters=[1, 16])),
]


def main():
    rows = []
    for name, fn, grid in WIDGETS:
        times = []
        keys = list(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            kwargs = dict(zip(keys, values, strict=True))
            best = float("inf")
            for _ in range(2):
                t = time.perf_counter()
                fn(**kwargs)
                best = min(best, time.perf_counter() - t)
            times.append(best)
        rows.append((name, len(times), statistics.median(times), max(times)))
    lines = ["| widget | positions timed | median | worst |", "|---|---|---|---|"]
    lines += [f"| {n} | {k} | {m * 1000:.0f} ms | {w * 1000:.0f} ms |" for n, k, m, w in rows]
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
