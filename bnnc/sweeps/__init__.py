"""Design-space sweeps (``bnnc sweep``, :func:`bnnc.sweep`): the cross product of
configurations — models, array sizes, mappings, array budgets, throughput targets, hardware
and device files and keys, seeds — run as independent jobs in a local process pool or on a
Dask distributed scheduler.

Each job writes its own folder ``DIR/jobs/<id>/`` (the usual output files, replaced as a
whole) and returns a small row that the sweep's process appends to ``DIR/results.jsonl``; the
id hashes the model's bytes, the configuration and the bnnc version, so a rerun skips the
finished jobs and a killed sweep loses only the jobs in flight. ``DIR/sweep.html`` (sortable
table, Pareto plots) and ``DIR/results.csv`` summarize the rows.

Modules: :mod:`.space` (settings → validated configurations and ids), :mod:`.job` (one job),
:mod:`.ledger` (``results.jsonl``, the lock, CSV), :mod:`.executors` (serial, process pool,
Dask), :mod:`.runner` (the sweep), :mod:`.progress`, :mod:`.pareto`, :mod:`.html`,
:mod:`.command` (the CLI)."""

from .runner import SweepIncomplete, run_sweep, sweep

__all__ = ["SweepIncomplete", "run_sweep", "sweep"]
