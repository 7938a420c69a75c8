"""``bnnc sweep`` / ``bnnc.sweep``: serial and parallel runs agree, a killed sweep resumes
without running a finished job again, the same jobs run on a Dask LocalCluster, bad input
stops before any job with one line and exit 2, and the results (CSV, HTML, Pareto marks) say
what the rows say."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest

import bnnc
from bnnc.cli import main
from bnnc.sweeps.job import make_job
from bnnc.sweeps.ledger import Ledger, read_rows
from bnnc.sweeps.pareto import pareto_optimal
from bnnc.sweeps.space import expand
from tests.models.zoo import BAD, ZOO, sample_inputs

SCHEMES = ["refcol", "xnor", "diff"]
ARRAYS = ["16x16", "32x32"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("sweep_models")
    paths = {}
    for name, entry in {"mlp": ZOO["mlp_sign_w_graph"], "bad": BAD["no_binary_layer"]}.items():
        paths[name] = directory / f"{name}.onnx"
        onnx.save(entry.build(), paths[name])
    return paths


def _lines(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "results.jsonl").read_text().splitlines()]


def _without_seconds(rows: list[dict]) -> list[dict]:
    return sorted(({k: v for k, v in r.items() if k != "seconds"} for r in rows), key=lambda r: r["id"])


def test_serial_and_two_workers_write_the_same_rows(models, tmp_path, capsys) -> None:
    serial = bnnc.sweep([models["mlp"], models["bad"]], array=ARRAYS, scheme=SCHEMES, jobs=1, out=tmp_path / "serial")
    assert main(["sweep", str(models["mlp"]), str(models["bad"]), "--array", ",".join(ARRAYS), "--scheme",
                 ",".join(SCHEMES), "-j", "2", "-o", str(tmp_path / "parallel")]) == 0
    out = capsys.readouterr()
    assert "12 configurations, 6 ok, 6 errors" in out.out
    assert out.err.count("bnnc: sweep: [") == 12  # one plain line per job off a terminal
    # the rows differ only in the seconds they took and in their order
    assert _without_seconds(_lines(tmp_path / "serial")) == _without_seconds(_lines(tmp_path / "parallel"))
    assert len({r["id"] for r in serial}) == 12
    for row in serial:
        assert set(row) == {"id", "config", "status", "error", "totals", "golden", "seconds"}
        folder = tmp_path / "serial" / "jobs" / row["id"]
        assert json.loads((folder / "job.json").read_text()) == row
        if row["config"]["model"] == str(models["bad"]):  # cannot compile: a row with its one-line error
            assert row["status"] == "error" and "\n" not in row["error"] and "binary" in row["error"]
            assert row["totals"] is None
        else:  # golden check against onnxruntime on the source model, in the job
            assert row["status"] == "ok" and row["golden"]["exact"] and row["golden"]["inputs"] == 16
            rows, cols = (int(v) for v in row["config"]["array"].split("x"))
            report = json.loads((folder / "report.json").read_text())
            crossbar = [layer for layer in report["layers"] if layer["target"] == "crossbar"]
            assert report["totals"] == row["totals"] and report["hardware"]["parameters"]["array"]["rows"]["value"] == rows
            assert {layer["scheme"] for layer in crossbar} == {row["config"]["scheme"]}
            assert {tuple(layer["array"]) for layer in crossbar} == {(rows, cols)}


def test_the_configuration_reaches_the_compile(models, tmp_path) -> None:
    """A sweep's row has the totals ``bnnc.compile`` gives the same options."""
    [row] = bnnc.sweep(models["mlp"], array=(16, 16), objective="energy", max_arrays=40, hardware={"read.time_ns": 20.0},
                       golden_inputs=0, out=tmp_path / "s", jobs=1, progress="bar")
    hw = bnnc.hardware().with_values({"read.time_ns": 20.0})
    assert row["totals"] == bnnc.compile(models["mlp"], array=(16, 16), objective="energy", max_arrays=40, hw=hw).totals
    assert row["golden"] is None and row["config"]["hardware"] == {"read.time_ns": 20.0}


def test_a_rerun_skips_finished_jobs_and_results_summarize_all_rows(models, tmp_path) -> None:
    out = tmp_path / "s"
    bnnc.sweep(models["mlp"], array="16x16", scheme=SCHEMES, jobs=1, out=out)
    before = {p.name: p.stat().st_ino for p in (out / "jobs").iterdir()}
    rows = bnnc.sweep(models["mlp"], array=["16x16", "32x32"], scheme=SCHEMES, jobs=1, out=out)
    assert len(rows) == 6 and len(_lines(out)) == 6
    assert all((out / "jobs" / name).stat().st_ino == inode for name, inode in before.items())  # not rewritten
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 7 and "config.array" in csv_lines[0] and "totals.energy_nj" in csv_lines[0]
    page = (out / "sweep.html").read_text()
    assert page.count("<svg") == 2 and page.count("<tr>") == 7 and "<script>" in page


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (int(c) for c in (task / "children").read_text().split()):
            found += [child, *_descendants(child)]
    return found


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_killed_sweep_resumes_and_runs_no_job_twice(kill, models, tmp_path) -> None:
    out = tmp_path / "s"
    command = [sys.executable, "-m", "bnnc", "sweep", str(models["mlp"]), "--array", "8x8,16x16,32x32,64x64",
               "--scheme", "refcol,xnor,diff,auto", "-j", "2", "-o", str(out), "--quiet"]
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out / "results.jsonl").exists() or len(_lines(out)) < 2:
        assert process.poll() is None and time.monotonic() < deadline, "the sweep ended before it could be killed"
        time.sleep(0.05)
    workers = _descendants(process.pid)
    assert len(workers) >= 2  # the pool's processes (and the fork server)
    process.send_signal(kill)
    code = process.wait(timeout=60)
    if kill == signal.SIGINT:  # Ctrl-C: the parent ends its workers, one line, exit 130
        assert code == 130 and process.stderr.read() == "bnnc: interrupted\n"
    finished = read_rows(out / "results.jsonl")
    assert 2 <= len(finished) < 16
    inodes = {i: (out / "jobs" / i).stat().st_ino for i in finished}
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{w}").exists() and "zombie" not in Path(f"/proc/{w}/status").read_text() for w in workers):
        assert time.monotonic() < deadline, "pool workers outlived the killed sweep"
        time.sleep(0.1)
    assert subprocess.run(command, cwd=tmp_path).returncode == 0
    ids = [row["id"] for row in _lines(out)]
    assert len(ids) == len(set(ids)) == 16  # every job once, the finished ones not again
    assert all((out / "jobs" / i).stat().st_ino == inode for i, inode in inodes.items())


def test_error_rows_are_finished_unless_retried(models, tmp_path) -> None:
    for retry in (False, False, True):
        [row] = bnnc.sweep(models["bad"], out=tmp_path / "s", jobs=1, retry_errors=retry)
        assert row["status"] == "error"
    assert len(_lines(tmp_path / "s")) == 2


def test_jobs_name_their_files_by_absolute_path(models, tmp_path, monkeypatch) -> None:
    """A worker runs in its own working directory (a Dask worker elsewhere on the cluster)."""
    monkeypatch.chdir(models["mlp"].parent)
    [config] = expand({"model": ["mlp.onnx"]}, {})
    job = make_job(config, Path("out"))
    assert config.model == "mlp.onnx" and job.path("model") == str(models["mlp"].resolve())
    assert job.folder == str((models["mlp"].parent / "out" / "jobs" / config.id).resolve()) and job.path("hw") is None


def test_a_partial_last_line_is_dropped_before_appending(tmp_path) -> None:
    row = {"id": "a", "status": "ok"}
    (tmp_path / "results.jsonl").write_text(json.dumps(row) + "\n" + '{"id": "b", "sta')
    with Ledger(tmp_path) as ledger:
        assert set(ledger.rows()) == {"a"}
        ledger.append({"id": "c", "status": "ok"})
    assert [r["id"] for r in _lines(tmp_path)] == ["a", "c"]


def test_a_second_sweep_on_the_same_directory_is_refused(models, tmp_path, capsys) -> None:
    with Ledger(tmp_path / "s"):
        assert main(["sweep", str(models["mlp"]), "-o", str(tmp_path / "s")]) == 2
    assert "another sweep is writing" in capsys.readouterr().err


def test_the_same_jobs_run_on_a_dask_local_cluster(models, tmp_path) -> None:
    from distributed import LocalCluster

    serial = bnnc.sweep(models["mlp"], array=ARRAYS, scheme="xnor", jobs=1, out=tmp_path / "serial")
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True, dashboard_address=None) as cluster:
        rows = bnnc.sweep(models["mlp"], array=ARRAYS, scheme="xnor", cluster=cluster.scheduler_address, out=tmp_path / "dask")
    assert _without_seconds(rows) == _without_seconds(serial)
    assert _without_seconds(_lines(tmp_path / "dask")) == _without_seconds(serial)


def test_cluster_without_dask_is_one_line_and_exit_2(models, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed raises ImportError
    assert main(["sweep", str(models["mlp"]), "-o", str(tmp_path / "s"), "--cluster", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bnnc[dask]" in err and not (tmp_path / "s").exists()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BAD_INPUTS = {
    "unknown scheme": (["--scheme", "xnor,fancy"], "scheme must be one of"),
    "scheme all": (["--scheme", "all"], "not 'all'"),
    "unknown objective": (["--objective", "speed"], "--objective: objective must be one of arrays,"),
    "bad layer config": (["--layer-config", "{dev}"], "dev.toml"),
    "empty list item": (["--array", "64x64,,128x128"], "--array: expected a comma-separated list"),
    "bad array": (["--array", "64by64"], "ROWSxCOLS"),
    "fractional budget": (["--max-arrays", "0,1.5"], "--max-arrays: expected a whole number"),
    "negative fps": (["--target-fps", "-1"], "--target-fps: expected inferences per second > 0"),
    "unknown hardware key": (["--set", "adc.nope=1"], "[adc] nope: unknown key"),
    "bad hardware value": (["--set", "read.time_ns=-3"], "[read] time_ns: expected"),
    "malformed --set": (["--set", "rows"], "--set: expected KEY=V1,V2"),
    "missing hw file": (["--hw", "nothere.toml"], "nothere.toml: no such file (--hw)"),
    "device without chips": (["--device", "{dev}"], "device settings are for a Monte Carlo over chips"),
    "bad device key": (["--set", "device.stuck_lrs=2", "--chips", "2"], "[device] stuck_lrs: expected"),
    "zero chips": (["--device", "{dev}", "--chips", "0", "--inputs", "{npz}"], "--chips: expected a whole number >= 1"),
    "bad inputs file": (["--inputs", "{dev}"], "cannot read input arrays"),
    "bad device file": (["--device", "{bad}", "--chips", "2", "--inputs", "{npz}"], "bad.toml: TOML syntax error"),
    "jobs 0": (["-j", "0"], "-j (jobs) takes a number of worker processes >= 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2_before_any_job(case, models, tmp_path, capsys) -> None:
    flags, message = BAD_INPUTS[case]
    dev = _write(tmp_path / "dev.toml", "[device]\nstuck_lrs = 0.0\n")
    np.savez(tmp_path / "in.npz", x=np.zeros((2, 64), np.float32))
    bad = _write(tmp_path / "bad.toml", "stuck_lrs = [\n")
    flags = [f.format(dev=dev, npz=tmp_path / "in.npz", bad=bad) for f in flags]
    assert main(["sweep", str(models["mlp"]), *flags, "-o", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "s").exists()


SWEEP_FILES = {
    "syntax": ("models = [", "TOML syntax error"),
    "unknown key": ('models = ["{model}"]\n[grid]\nschemes = ["xnor"]\n', "grid.schemes: unknown key"),
    "grid not a list": ('models = ["{model}"]\n[grid]\nscheme = "xnor"\n', "grid.scheme: expected a non-empty list"),
    "missing model": ('models = ["nothere.onnx"]\n', "nothere.onnx: no such file"),
    "not onnx": ('models = ["sweep.toml"]\n', "expected an ONNX model (.onnx)"),
    "no model": ('[grid]\nscheme = ["xnor"]\n', "no model to sweep"),
    "unknown hardware table": ('models = ["{model}"]\n[grid]\nchip.speed = [1]\n', "[chip]: unknown table"),
    "configs clash with grid": ('models = ["{model}"]\n[grid]\nscheme = ["xnor"]\n[[configs]]\nscheme = "diff"\n',
                                "is also a grid axis"),
}


@pytest.mark.parametrize("case", sorted(SWEEP_FILES))
def test_a_bad_sweep_file_is_one_line_and_exit_2(case, models, tmp_path, capsys) -> None:
    text, message = SWEEP_FILES[case]
    path = _write(tmp_path / "sweep.toml", text.format(model=models["mlp"]))
    assert main(["sweep", "--config", str(path), "-o", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "s").exists()


def test_a_sweep_file_crosses_its_configurations_with_its_grid(models, tmp_path, capsys) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "mlp.onnx").write_bytes(models["mlp"].read_bytes())
    path = _write(tmp_path / "sweep.toml", 'golden_inputs = 4\n[grid]\nscheme = ["xnor", "diff"]\nread.time_ns = [10, 20]\n'
                  '[[configs]]\nmodel = "m/mlp.onnx"\narray = "16x16"\n[[configs]]\nmodel = "m/mlp.onnx"\narray = "32x32"\n')
    assert main(["sweep", "--config", str(path), "-o", str(tmp_path / "s"), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    rows = list(read_rows(tmp_path / "s" / "results.jsonl").values())
    assert len(rows) == 8 and all(r["status"] == "ok" and r["golden"]["inputs"] == 4 for r in rows)
    assert all(r["config"]["model"] == str(tmp_path / "m" / "mlp.onnx") for r in rows)  # relative to the file
    by = {(r["config"]["array"], r["config"]["scheme"], r["config"]["hardware"]["read.time_ns"]): r["totals"] for r in rows}
    assert len(by) == 8
    for (array, scheme, read_ns), totals in by.items():
        if read_ns == 10:  # a longer array read makes every inference slower, nothing else changes the arrays
            slower = by[(array, scheme, 20)]
            assert slower["latency_ns"] > totals["latency_ns"] and slower["arrays"] == totals["arrays"]


def test_the_same_configuration_is_one_job(models, tmp_path) -> None:
    """The default array is the hardware's: --array 128x128 and no --array are the same job."""
    rows = bnnc.sweep(models["mlp"], array=["128x128", (128, 128)], scheme="xnor", golden_inputs=0, jobs=1, out=tmp_path / "s")
    again = bnnc.sweep(models["mlp"], scheme="xnor", golden_inputs=0, jobs=1, out=tmp_path / "s")
    assert len(rows) == 1 and again == rows and len(_lines(tmp_path / "s")) == 1


def test_a_file_named_sweep_is_not_taken_for_the_subcommand(models, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sweep").write_bytes(models["mlp"].read_bytes())
    assert main(["./sweep"]) == 2
    assert "expected an ONNX model (.onnx) or textual IR (.bir)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--help"])
    assert exit_.value.code == 0 and "usage: bnnc sweep" in capsys.readouterr().out


def test_pareto_optimal_points() -> None:
    points = [(1.0, 5.0), (2.0, 3.0), (3.0, 3.0), (4.0, 1.0), (2.0, 3.0), (5.0, 5.0)]
    assert pareto_optimal(points) == [True, True, False, True, True, False]
    assert pareto_optimal(points, (False, True)) == [True, False, False, False, False, False]  # (1, 5) beats (5, 5)
    assert pareto_optimal(points, (True, True)) == [False, False, False, False, False, True]


def test_the_page_marks_the_pareto_optimal_rows(models, tmp_path) -> None:
    rows = bnnc.sweep(models["mlp"], array=["8x8", "16x16", "64x64"], scheme=SCHEMES, golden_inputs=0, jobs=1, out=tmp_path / "s")
    page = (tmp_path / "s" / "sweep.html").read_text()
    points = [(r["totals"]["area_mm2"], r["totals"]["energy_nj"]) for r in rows]
    best = {r["id"] for r, mark in zip(rows, pareto_optimal(points)) if mark}
    dominated = {r["id"] for r in rows} - best
    assert best and dominated
    marked = {line.split('<a href="jobs/')[1][:16] for line in page.splitlines()
              if line.startswith("<tr>") and line.split("</td>")[0].split(">")[-1] and "1" in line.split("</td>")[0].split(">")[-1]}
    assert marked == best


def _robust_inputs(tmp_path: Path) -> tuple[Path, Path]:
    dev = _write(tmp_path / "dev.toml", "[device]\nstuck_lrs = 0.0\n")
    arrays = sample_inputs(ZOO["mlp_sign_w_graph"], 8, seed=0)
    np.savez(tmp_path / "in.npz", **arrays, labels=np.arange(8) % 10)
    return dev, tmp_path / "in.npz"


def test_a_sweep_over_device_keys_reports_robustness(models, tmp_path) -> None:
    dev, inputs = _robust_inputs(tmp_path)
    rows = bnnc.sweep(models["mlp"], array="16x16", scheme="xnor", device=dev, chips=2, inputs=inputs,
                      hardware={"device.stuck_lrs": [0.0, 0.2]}, jobs=1, out=tmp_path / "s")
    assert [r["status"] for r in rows] == ["ok", "ok"], rows
    ideal, stuck = sorted(rows, key=lambda r: r["config"]["device_values"]["stuck_lrs"])
    assert ideal["robustness"]["agreement"]["mean"] == 1.0  # the ideal device computes the ideal program
    assert ideal["robustness"]["chips"] == 2 and ideal["robustness"]["samples"] == 8
    assert stuck["robustness"]["device"]["stuck_lrs"]["value"] == 0.2  # the swept key reached the Monte Carlo
    report = json.loads((tmp_path / "s" / "jobs" / stuck["id"] / "report.json").read_text())
    assert report["robustness"]["device"] == stuck["robustness"]["device"]
    assert (tmp_path / "s" / "jobs" / stuck["id"] / "robustness.csv").is_file()
    page = (tmp_path / "s" / "sweep.html").read_text()
    assert page.count("<svg") == 3 and "Accuracy against energy" in page
