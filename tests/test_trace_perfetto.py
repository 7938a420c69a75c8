"""trace.json against the Trace Event format and the rules of today's Perfetto JSON importer
(google/perfetto ``src/trace_processor/importers/json/json_trace_tokenizer.cc`` and
``json_trace_parser.cc``):

- the file is an object whose ``traceEvents`` is an array of event objects with ``ph``;
- every event but metadata (``M``) needs a numeric ``ts``; an ``X`` event needs ``dur``; both
  are µs, rounded to whole ns (``llround(v * 1000)``); events need not be sorted;
- ``pid``/``tid`` are integers; a ``tid`` of 0 is replaced by the ``pid`` and a tid equal to a
  pid is that process's main thread, so a layer on tid 0 lands on another's track;
- complete events on one thread track must nest; a partial overlap is spilled to an overflow
  track and flagged (``slice_spill_overlapping_complete_event``);
- ``displayTimeUnit`` is only counted as a stat today, but older importers took it as the unit
  of ``ts`` (``json_display_time_unit``);
- strings: a ``\\u`` escape of a surrogate (any character beyond U+FFFF, as ``json.dumps``
  writes by default) fails the whole file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from bnnc import api
from bnnc.backends.schedule import LayerSchedule, Schedule, trace_events, trace_json

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx"
PHASES = set("BEXIiCbnesMNODPftRrvV(s)")


def perfetto_problems(data: bytes) -> list[str]:
    """What today's Perfetto JSON importer would reject, misplace or flag in ``data``."""
    problems = []
    if re.search(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}", data):
        problems.append("\\u-escaped surrogate (Perfetto fails the file): write UTF-8")
    trace = json.loads(data)
    if not isinstance(trace, dict) or not isinstance(trace.get("traceEvents"), list):
        return problems + ["not an object with a traceEvents array"]
    if "displayTimeUnit" in trace:
        problems.append("displayTimeUnit (older importers read it as the unit of ts)")
    events = trace["traceEvents"]
    pids = {e.get("pid") for e in events}
    threads: dict[tuple[int, int], list[tuple[int, int]]] = {}
    named = {(e.get("pid"), e.get("tid")) for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"}
    tid_owner: dict[int, int] = {}
    for e in events:
        ph = e.get("ph")
        if not isinstance(ph, str) or ph[:1] not in PHASES:
            problems.append(f"bad ph {ph!r}")
            continue
        for key in ("pid", "tid"):
            if key in e and not isinstance(e[key], int):
                problems.append(f"{key} {e[key]!r} is not an integer")
        if ph == "M":
            if e.get("name") not in ("process_name", "thread_name", "process_sort_index", "thread_sort_index"):
                problems.append(f"unknown metadata {e.get('name')!r}")
            continue
        if not isinstance(e.get("ts"), int | float) or e["ts"] < 0:
            problems.append(f"event {e.get('name')!r} without a numeric ts")
            continue
        if ph == "X" and not (isinstance(e.get("dur"), int | float) and e["dur"] >= 0):
            problems.append(f"complete event {e.get('name')!r} without a dur")
            continue
        pid, tid = e.get("pid", 0), e.get("tid", 0)
        if tid == 0:
            problems.append(f"tid 0 (Perfetto puts it on pid {pid}'s main thread)")
        if tid in pids and tid != pid:
            problems.append(f"tid {tid} of pid {pid} is another process's id")
        if tid_owner.setdefault(tid, pid) != pid:
            problems.append(f"tid {tid} in pids {tid_owner[tid]} and {pid}")
        if ph == "X":
            start = round(e["ts"] * 1000)
            threads.setdefault((pid, tid), []).append((start, start + round(e["dur"] * 1000)))
    for (pid, tid), slices in threads.items():
        if (pid, tid) not in named:
            problems.append(f"track pid {pid} tid {tid} has no thread_name")
        slices.sort()
        for (s0, e0), (s1, e1) in zip(slices, slices[1:]):
            if s1 < e0 and e1 > e0:
                problems.append(f"overlapping slices on pid {pid} tid {tid}: [{s0}, {e0}) and [{s1}, {e1}) ns")
    return problems


def _schedule(names: list[str], spans: list[list[tuple[float, float]]]) -> Schedule:
    layers = []
    for name, groups in zip(names, spans):
        ends = np.array([end for _, end in groups])
        window = groups[0][1] - groups[0][0]
        layers.append(LayerSchedule(name=name, positions=len(groups), planes=1, tiles=(1, 1), replicas=1,
                                    sensing="comparator", adc_bits=0, window_ns=window, groups=len(groups),
                                    start_ns=groups[0][0], end_ns=groups[-1][1], group_end_ns=ends))
    return Schedule(layers, 1.0)


def test_the_written_trace_follows_perfettos_rules(tmp_path: Path) -> None:
    c = api.compile(EXAMPLE, max_arrays=40)
    data = c.files(tmp_path / "out", figures=False)[tmp_path / "out" / "trace.json"]
    assert perfetto_problems(data) == []
    trace = json.loads(data)
    names = {e["tid"]: e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name" and e["pid"] == 1}
    layers = [layer.name for layer in c.schedule().layers]
    assert sorted(names.values()) == sorted(layers)  # one track per layer
    groups = [e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name" and e["pid"] == 2]
    assert len(groups) == len(layers) and any(" 1 array (" in g for g in groups)  # and per array group, "1 array"


def test_unicode_names_and_sub_ns_times_stay_valid() -> None:
    """A layer named beyond U+FFFF, windows of a fraction of a ns apart: still one valid,
    non-overlapping track each."""
    windows = [(i * 10.3337, (i + 1) * 10.3337) for i in range(50)]
    schedule = _schedule(["conv😀/Ω", "dense"], [windows, [(t + 7.0001, e + 7.0001) for t, e in windows]])
    data = trace_json(trace_events(schedule, max_events_per_layer=64))
    assert perfetto_problems(data) == []
    assert "conv😀/Ω".encode() in data


def test_the_checker_finds_what_perfetto_misplaces() -> None:
    """The rules above are not vacuous: tid 0, overlaps, escaped surrogates and a time unit are found."""
    bad = {"displayTimeUnit": "ns", "traceEvents": [
        {"ph": "M", "pid": 1, "tid": 0, "name": "thread_name", "args": {"name": "conv0"}},
        {"ph": "X", "pid": 1, "tid": 0, "ts": 0, "dur": 5, "name": "a"},
        {"ph": "X", "pid": 1, "tid": 0, "ts": 3, "dur": 5, "name": "b😀"},
        {"ph": "X", "pid": 1, "tid": 4, "name": "no ts"},
    ]}
    problems = " | ".join(perfetto_problems(json.dumps(bad).encode()))
    for expected in ("surrogate", "displayTimeUnit", "tid 0", "overlapping", "without a numeric ts"):
        assert expected in problems
