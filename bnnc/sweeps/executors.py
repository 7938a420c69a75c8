"""Where sweep jobs run: in this process (one worker), a local process pool, or a Dask
distributed scheduler. Each executor yields ``(job, row)`` as jobs finish, or
``(job, exception)`` for a job whose worker was lost for good (the job is not finished; a
rerun runs it).

Pool workers start from a fresh server process (they inherit no open file of the parent, such as the sweep's lock),
ignore Ctrl-C (the parent ends them) and exit when the parent process dies, so an interrupted
or killed sweep leaves no workers behind.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from bnnc.errors import BnncError

from .job import Job, run_job

Outcome = tuple[Job, dict[str, Any] | BaseException]


class Executor(Protocol):
    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]: ...


class Serial:
    """The jobs one after the other in this process."""

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        for job in jobs:
            yield job, run_job(job)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (killed, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # no /proc: signal 0 is all there is
        return True


def _worker_init(sweep: int) -> None:
    """Pool worker initializer: leave Ctrl-C to the sweep's process ``sweep`` (which ends the
    workers of an interrupted sweep) and exit as soon as that process is gone (a fork
    server's workers keep it alive, so its own death cannot be waited for)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while _alive(sweep):
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="bnnc-sweep-parent-watch").start()


def _context() -> multiprocessing.context.BaseContext:
    """Workers forked from a fresh server process that has imported the job's modules once
    (forkserver; spawn where there is none): no worker inherits the parent's open files or
    threads, and none pays for the imports again."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([run_job.__module__])
    return context


class LocalPool:
    """A :class:`~concurrent.futures.ProcessPoolExecutor` of ``workers`` processes."""

    def __init__(self, workers: int):
        self.workers = workers

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        pool = ProcessPoolExecutor(self.workers, mp_context=_context(), initializer=_worker_init,
                                   initargs=(os.getpid(),))
        completed = False
        try:
            pending: dict[Future, Job] = {pool.submit(run_job, job): job for job in jobs}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    job = pending.pop(future)
                    try:
                        yield job, future.result()
                    except Exception as lost:  # BrokenProcessPool: a worker died (killed, out of memory)
                        yield job, lost
            completed = True
        finally:
            if completed:
                pool.shutdown(wait=True)
            else:  # interrupted: cancel what has not started, end the jobs in flight
                in_flight = list((getattr(pool, "_processes", None) or {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
                for process in in_flight:
                    process.terminate()


class DaskCluster:
    """The jobs submitted to the Dask distributed scheduler at ``address``; a worker lost
    mid-job is retried by the scheduler (its job rewrites its own folder)."""

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError:
            raise BnncError("--cluster needs dask.distributed, which is not installed: "
                            "pip install 'bnnc[dask]' (here and on the workers)") from None
        try:
            self.client = Client(address, timeout=10, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise BnncError(f"--cluster {address}: cannot reach a Dask scheduler ({' '.join(str(e).split())}); "
                            "start one with `dask scheduler` and workers with `dask worker ADDRESS`") from None

    def run(self, jobs: Sequence[Job]) -> Iterator[Outcome]:
        from distributed import as_completed

        token = secrets.token_hex(4)
        try:
            futures = {self.client.submit(run_job, job, key=f"bnnc-sweep-{job.id}-{token}", pure=False): job
                       for job in jobs}
            for future in as_completed(futures, loop=self.client.loop):
                job = futures[future]
                try:
                    yield job, future.result()
                except Exception as lost:  # KilledWorker: the scheduler gave up on it
                    yield job, lost
        finally:
            self.client.close()


def executor(jobs: int, cluster: str | None) -> Executor:
    """The executor for ``-j jobs`` or ``--cluster address``."""
    if cluster is not None:
        return DaskCluster(cluster)
    return Serial() if jobs == 1 else LocalPool(jobs)
