"""The output directory is replaced as a whole (old or new, never a mix, nothing stale of an
earlier run, the user's own files kept), its
files get the umask's mode, and outputs that would overwrite an input or cannot be written are
refused before the compile starts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import bnnc
from bnnc import api
from bnnc.cli import main
from bnnc.ir import atomic

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bnn_cnn.onnx"
NEW_FILES = {"model.bir", "model.npz", "report.html", "report.json", "report.md", "schedule.json", "trace.json", "figures"}


def _run(*args: str | Path) -> int:
    return main([str(EXAMPLE), "--golden-inputs", "1", *map(str, args)])


def _tree(path: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else None for p in sorted(path.rglob("*"))}


def _earlier_run(out: Path) -> dict[str, bytes | None]:
    out.mkdir()
    for name in ("report.json", "model.bir", "model.npz", "notes.txt"):
        (out / name).write_text(f"old {name}")
    (out / "trace.json").mkdir()
    (out / "trace.json" / "inner").write_text("old")
    return _tree(out)


def _tiny_model(path: Path) -> Path:
    """A model whose constants all fit inline in model.bir (no model.npz)."""
    weights = numpy_helper.from_array(np.array([[1, -1], [-1, 1], [1, 1], [-1, -1]], np.float32), "w")
    graph = helper.make_graph([helper.make_node("Sign", ["x"], ["a"]), helper.make_node("MatMul", ["a", "w"], ["y"])], "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [weights])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_a_rerun_replaces_every_earlier_output_and_keeps_the_users_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _earlier_run(out)
    assert main([str(_tiny_model(tmp_path / "tiny.onnx")), "--golden-inputs", "1", "-o", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == NEW_FILES - {"model.npz"} | {"notes.txt"}
    assert (out / "notes.txt").read_text() == "old notes.txt" and (out / "trace.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny.onnx"]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "rename-aside"])
def test_a_failed_write_leaves_the_old_directory_untouched(tmp_path: Path, monkeypatch, capsys, exchange: bool) -> None:
    out = tmp_path / "out"
    before = _earlier_run(out)
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    written: list[Path] = []

    def failing_write(path: Path, data: bytes) -> None:
        if len(written) == 3:
            raise OSError(28, "No space left on device", str(path))
        written.append(path)
        path.write_bytes(data)

    monkeypatch.setattr(atomic, "_write_new", failing_write)
    assert _run("-o", out, "--quiet") == 2  # no progress lines: the error is the one line
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and ".new" not in message and ".tmp" not in message and "No space left" in message
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_swap_without_renameat2_gives_the_same_directory(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    atomic.replace_directory_atomically(out, {"a": b"1", "sub/b": b"2", "mine/c": b"3"})
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    atomic.replace_directory_atomically(out, {"d": b"4"}, owned=frozenset({"a", "sub"}))
    assert _tree(out) == {"d": b"4", "mine": None, "mine/c": b"3"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_files_get_the_mode_the_umask_gives(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        assert _run("-o", tmp_path / "out", "--export-standard-onnx", tmp_path / "std.onnx") == 0
    finally:
        os.umask(previous)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "out").rglob("*") if p.is_file()} == {0o644}
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "out").rglob("*") if p.is_dir()} == {0o755}  # figures/
    assert (tmp_path / "std.onnx").stat().st_mode & 0o777 == 0o644


def _refused(capsys, monkeypatch, *args: str | Path) -> str:
    """Run the CLI expecting exit 2 before any compile; returns the one-line message."""
    def no_compile(*a, **k):
        raise AssertionError("the compile started before the outputs were checked")

    monkeypatch.setattr(api, "compile", no_compile)
    assert _run(*args) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("bnnc: error: ") and "\n" not in message
    return message


def test_an_empty_output_path_is_refused(capsys, monkeypatch) -> None:
    assert "-o needs a directory name" in _refused(capsys, monkeypatch, "-o", "")


def test_an_unwritable_output_parent_is_refused_before_the_compile(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "file").write_text("x")
    assert "not a writable directory" in _refused(capsys, monkeypatch, "-o", tmp_path / "file" / "out")
    assert "is not a directory" in _refused(capsys, monkeypatch, "-o", tmp_path / "file")


def test_a_directory_that_is_not_an_earlier_output_is_not_replaced(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert "not a bnnc output directory" in _refused(capsys, monkeypatch, "-o", tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_an_output_directory_holding_the_model_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    model = tmp_path / "out" / "m.onnx"
    model.parent.mkdir()
    model.write_bytes(EXAMPLE.read_bytes())
    (tmp_path / "out" / "report.json").write_text("{}")
    (tmp_path / "out" / "model.bir").write_text("")
    monkeypatch.setattr(api, "compile", lambda *a, **k: pytest.fail("compiled"))
    assert main([str(model), "-o", str(model.parent)]) == 2
    assert "holds the input" in capsys.readouterr().err
    assert model.read_bytes() == EXAMPLE.read_bytes()


@pytest.mark.parametrize("flag", ["--save-outputs", "--export-standard-onnx"])
def test_outputs_onto_the_input_model_are_refused(tmp_path: Path, capsys, monkeypatch, flag: str) -> None:
    link = tmp_path / "link.onnx"
    link.symlink_to(EXAMPLE)
    assert "is an input of this run" in _refused(capsys, monkeypatch, "-o", tmp_path / "out", flag, link)
    assert "is an input of this run" in _refused(capsys, monkeypatch, "-o", tmp_path / "out", flag, EXAMPLE)


def test_the_api_write_replaces_the_directory_too(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _earlier_run(out)
    bnnc.compile(EXAMPLE).write(out)
    assert {p.name for p in out.iterdir()} == NEW_FILES | {"notes.txt"}


def test_a_file_outside_the_directory_that_cannot_be_written_names_it_not_its_temporary(tmp_path: Path, monkeypatch) -> None:
    def no_space(fd: int, data: bytes) -> None:
        os.close(fd)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "_write_fd", no_space)
    with pytest.raises(bnnc.BnncError, match=r"std\.onnx: cannot write \(No space left on device\)$") as info:
        atomic.write_files_atomically({tmp_path / "std.onnx": b"x"})
    assert ".tmp" not in str(info.value) and list(tmp_path.iterdir()) == []


def test_a_directory_another_run_creates_meanwhile_is_exchanged(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    real_exists = Path.exists

    def created_meanwhile(path: Path) -> bool:
        if path == out and not real_exists(out):
            out.mkdir()
            (out / "report.json").write_text("other run")
            return False
        return real_exists(path)

    monkeypatch.setattr(Path, "exists", created_meanwhile)
    atomic.replace_directory_atomically(out, {"report.json": b"this run"})
    monkeypatch.undo()
    assert _tree(out) == {"report.json": b"this run"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_next_run_removes_what_a_killed_run_left_beside_the_directory(tmp_path: Path) -> None:
    """Hidden siblings of killed runs (unlocked, unchanged for a while) go; a live run's
    (locked) and a fresh one stay, and so does anything not named like a staging directory."""
    from bnnc.ir import staging

    out = tmp_path / "out"
    dead_new, dead_old, live, fresh = (tmp_path / f".out.{tag}.{kind}" for tag, kind in
                                       (("dead_123", "new"), ("dead_456", "old"), ("live_123", "new"), ("fresh_12", "new")))
    mine = tmp_path / ".out.mine.old"
    for directory in (dead_new, dead_old, live, fresh, mine):
        (directory / "sub").mkdir(parents=True)
        (directory / "sub" / "f").write_text("x")
        if directory is not fresh:
            os.utime(directory, (0, 0))
    lock = staging.hold(live)
    try:
        atomic.replace_directory_atomically(out, {"report.json": b"new"})
    finally:
        os.close(lock)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", live.name, fresh.name, mine.name])


def test_a_parent_where_no_directory_can_be_created_is_refused_before_the_compile(capsys, monkeypatch) -> None:
    """/proc: os.access says root may write there, creating a directory fails (the message named
    the internal staging directory, after the whole compile)."""
    if not Path("/proc/self").exists():
        pytest.skip("no /proc")
    message = _refused(capsys, monkeypatch, "-o", "/proc/bnnc-out")
    assert "not a writable directory" in message and ".new" not in message
