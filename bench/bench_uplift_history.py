"""Uplift learners on a built warehouse's up-sell campaign history: fit on the pilot, measure
on the rollout against the response models and (with the generator's truth) the oracle.

    python bench/bench_uplift_history.py --warehouse warehouse/propensity.duckdb \
        --truth data/truth/uplift_truth.parquet
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from propensity.uplift_history import describe_history, fit_history


def main() -> None:
    """Fit, measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--truth", type=Path, default=None, help="uplift_truth.parquet")
    parser.add_argument("--seed", type=int, default=20261125)
    arguments = parser.parse_args()
    started = time.perf_counter()
    with threadpool_limits(1):
        rows, fit = fit_history(
            arguments.warehouse, truth_file=arguments.truth, seed=arguments.seed
        )
    for line in describe_history(rows, fit):
        print(line)
    print(f"read, fitted and measured in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
