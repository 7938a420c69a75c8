"""Running a sweep: the jobs not yet finished in ``DIR``, on the chosen executor, each row
appended to ``results.jsonl`` as its job finishes; then ``results.csv`` and ``sweep.html``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bnnc.errors import BnncError
from bnnc.ir.atomic import write_files_atomically

from .executors import executor
from .html import sweep_html
from .job import make_job
from .ledger import Ledger, check_sweep_directory, csv_bytes, flat_row
from .progress import MODES, Progress
from .space import Configuration, expand, read_sweep_file


class SweepIncomplete(BnncError):
    """Some jobs did not finish (their workers were lost); rerunning the sweep runs them."""

    exit_code = 4


def _workers(jobs: int | None) -> int:
    if jobs is None:
        return os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise BnncError(f"-j (jobs) takes a number of worker processes >= 1, got {jobs!r}")
    return jobs


def run_sweep(configs: Sequence[Configuration], out: str | Path, jobs: int | None = None, cluster: str | None = None,
              progress: str = "auto", retry_errors: bool = False) -> list[dict[str, Any]]:
    """Run the configurations not finished in ``out`` (and, with ``retry_errors``, those whose
    row is an error); return the rows of all of them, in their order. Raises :class:`SweepIncomplete` after writing the
    results if a job's worker was lost for good."""
    if progress not in MODES:
        raise BnncError(f"progress must be one of {', '.join(MODES)}, got {progress!r}")
    directory = Path(out)
    if not str(out):
        raise BnncError("-o needs a directory name (got an empty path)")
    check_sweep_directory(directory)
    runner = executor(_workers(jobs), cluster)
    lost: list[str] = []
    with Ledger(directory) as ledger:
        planned = [make_job(config, directory) for config in configs]
        finished = ledger.finished(job.id for job in planned)
        if retry_errors:
            earlier = ledger.rows()
            finished = {i for i in finished if earlier[i]["status"] == "ok"}
        todo = [job for job in planned if job.id not in finished]
        with Progress(len(todo), progress) as bar:
            for job, outcome in runner.run(todo):
                if isinstance(outcome, BaseException):
                    note = f"{job.id}: did not run to the end ({type(outcome).__name__}: {' '.join(str(outcome).split())})"
                    lost.append(note)
                    bar.advance(None, note)
                else:
                    ledger.append(outcome)
                    bar.advance(outcome)
        rows = ledger.rows()
        write_files_atomically({directory / "results.csv": csv_bytes(rows.values()),
                                directory / "sweep.html": sweep_html(list(rows.values())).encode()})
    if lost:
        raise SweepIncomplete(f"{len(lost)} of {len(todo)} jobs did not finish ({lost[0]}); "
                              "rerun the same command to run them (on a cluster, bnnc must import on the scheduler "
                              "and on every worker)")
    return [rows[job.id] for job in planned]


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) and not _is_array_pair(value) else [value]


def _is_array_pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)


def _array_text(value: Any) -> Any:
    return f"{value[0]}x{value[1]}" if _is_array_pair(value) else value


def sweep(models: str | Path | Iterable[str | Path] | None = None, *, array: Any = None, scheme: Any = None,
          objective: Any = None, max_arrays: Any = None, target_fps: Any = None, sign_zero: Any = None, hw: Any = None,
          layer_config: Any = None, hardware: Mapping[str, Any] | None = None, inputs: str | Path | None = None, golden_inputs: int | None = None,
          device: Any = None, chips: Any = None, seed: Any = None, config: str | Path | None = None,
          out: str | Path, jobs: int | None = None, cluster: str | None = None, progress: str = "quiet",
          retry_errors: bool = False) -> Any:
    """Sweep the cross product of the given values (each one value or a list) over
    ``models``, or the configurations of the sweep file ``config``, into ``out``; returns the
    result rows (a pandas DataFrame of the flattened rows when pandas is installed, else a
    list of dicts).

    - ``array``: ``"64x64"`` or ``(64, 64)`` (or lists of them); ``scheme``: refcol, xnor,
      diff, auto; ``objective``, ``max_arrays`` (0: no replication), ``target_fps``,
      ``sign_zero``, ``hw`` and ``layer_config`` (TOML files) as :func:`bnnc.compile` takes
      them; ``seed``; ``golden_inputs`` (random inputs of the golden check; 0: none);
    - ``hardware``: ``{"adc.power_6bit_mw": [1.26, 2.0], "device.stuck_lrs": [0, 0.01]}``,
      hardware and device keys;
    - ``device``, ``chips``, ``inputs``: a Monte Carlo over device instances per configuration
      (``Compilation.robustness``; ``inputs`` is an .npz, optionally with ``labels``);
    - ``jobs``: worker processes (default: the CPU count); ``cluster``: a Dask scheduler
      address instead; ``progress``: ``quiet``, ``lines``, ``bar`` or ``auto``; ``retry_errors``:
      run again the configurations whose earlier row is an error (finished ``ok`` ones are skipped).
    """
    given = {"array": array, "scheme": scheme, "objective": objective, "max_arrays": max_arrays, "target_fps": target_fps,
             "sign_zero": sign_zero, "hw": hw, "layer_config": layer_config, "inputs": inputs, "golden_inputs": golden_inputs, "device": device, "chips": chips, "seed": seed}
    grid = {key: [_array_text(v) for v in _listed(value)] for key, value in given.items() if value is not None}
    grid.update({key: _listed(value) for key, value in (hardware or {}).items()})
    if config is not None:
        if models is not None or grid:
            raise BnncError("config (a sweep file) gives the configurations; leave models and the other axes unset")
        configs = read_sweep_file(Path(config))
    else:
        if models is None:
            raise BnncError("no model to sweep: give models (or a sweep file as config)")
        grid["model"] = [str(m) for m in _listed(models if not isinstance(models, str | Path) else [models])]
        configs = expand(grid, {})
    rows = run_sweep(configs, out, jobs, cluster, progress, retry_errors)
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame([flat_row(r) for r in rows])
