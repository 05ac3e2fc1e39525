"""Speed of the simulator, measured (not a timed test): run with `make bench`.

Targets on a 2-core machine (from the course's bar):
* at least 20,000 simulated invocations per second (trivial handler; a handler with two waits);
* a widget-sized run (2,000 invocations, then its summary) in under 0.3 s;
* every lesson widget's simulation, at every corner of its sliders, in under 0.3 s.

Each figure is the best of several repetitions, so a busy machine shows less noise.
Results are printed as a Markdown table and written to bench/RESULTS.md.
"""

import pathlib
import platform
import sys
import time

import labkit as lk

TRIVIAL = "def handler(event, context):\n    return event['n']\n"
TWO_WAITS = ("import labkit as lk\n"
             "def handler(event, context):\n"
             "    lk.sleep(0.010)\n"
             "    lk.sleep(0.020)\n"
             "    return event['n']\n")


def throughput(source, calls, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        lab = lk.Lab(seed=1)
        fn = lab.function(source=source, runtime_init_ms=0)
        t = time.perf_counter()
        run = lab.invoke(fn, lk.workload.poisson(rate_per_s=calls / 100, seconds=100))
        n = len(run.records.invocations)
        best = min(best, time.perf_counter() - t)
    return n / best, n


def widget_run(repeats=5):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        lab = lk.Lab(seed=1)
        fn = lab.function(source=TWO_WAITS, reserved_concurrency=10, memory_mb=512)
        run = lab.invoke(fn, lk.workload.poisson(rate_per_s=20, seconds=100))
        run.summary()
        best = min(best, time.perf_counter() - t)
    return best, len(run.records.invocations)


def main():
    rows = []
    rate, n = throughput(TRIVIAL, 100_000)
    rows.append(("trivial handler", f"{n:,} invocations", f"{rate:,.0f} invocations/s", ">= 20,000/s",
                 "yes" if rate >= 20_000 else "NO"))
    rate, n = throughput(TWO_WAITS, 100_000)
    rows.append(("handler with two waits", f"{n:,} invocations", f"{rate:,.0f} invocations/s", ">= 20,000/s",
                 "yes" if rate >= 20_000 else "NO"))
    wall, n = widget_run()
    rows.append(("widget-sized run + summary", f"{n:,} invocations", f"{wall * 1000:.0f} ms", "< 300 ms",
                 "yes" if wall < 0.3 else "NO"))
    head = ("| benchmark | size | result | target | met |\n|---|---|---|---|---|\n")
    table = head + "\n".join("| " + " | ".join(r) + " |" for r in rows)
    where = f"Python {platform.python_version()} on {platform.machine()}, {platform.system()}"
    import widgets   # bench/widgets.py, beside this file
    widget_table = widgets.main()
    text = (f"{table}\n\nEach lesson's widget function over its slider grid (simulation only):\n\n"
            f"{widget_table}\n\nMeasured with `make bench` ({where}).\n")
    (pathlib.Path(__file__).parent / "RESULTS.md").write_text(text)
    return 0 if all(r[-1] == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
