"""Golden textual tests in the LLVM lit style.

Every ``tests/filecheck/**/*.bir`` file is one test. Its directives::

    // RUN: bnnc %s -p canonicalize --emit ir
    // RUN-EXIT: 2                      (optional; the exit code expected, 0 by default)
    // CHECK: ... / CHECK-NEXT: / CHECK-NOT: / CHECK-LABEL: / CHECK-SAME: / CHECK-DAG: ...
    // CHECK-ERR: ...                   (checks on stderr; CHECK-ERR-NEXT: etc. too)

``bnnc`` runs in-process through ``bnnc.cli.main(argv)``; its stdout is matched by the ``filecheck``
package against the ``CHECK`` lines of the file and its stderr against the ``CHECK-ERR`` lines.
A RUN line may end in ``| filecheck %s --check-prefix=PREFIX`` (or ``--check-prefixes=A,B``) to
check stdout with other prefixes, so that one file can hold several RUN lines, each with its own
checks. A RUN line ending in ``\\`` continues on the next ``// RUN:`` line. Substitutions: ``%s``
the test file, ``%S`` its directory, ``%t`` a fresh temporary path, ``%%`` a literal ``%``.

Run one test: ``pytest tests/test_filecheck.py -k basic``; its failure shows the bnnc command,
its output and filecheck's diagnostics.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

try:
    from bnnc import cli
except ModuleNotFoundError as e:  # only a missing bnnc.cli skips; any other import error fails
    if e.name != "bnnc.cli":
        raise
    cli = None

ROOT = Path(__file__).parent / "filecheck"
STDOUT_PREFIX = "CHECK"
STDERR_PREFIX = "CHECK-ERR"
_SUFFIXES = r"(?:-(?:DAG|COUNT-\d+|NOT|EMPTY|NEXT|SAME|LABEL))?(?:\{LITERAL\})?:"


def _has_checks(text: str, prefixes: list[str]) -> bool:
    """Whether ``text`` holds a directive for one of ``prefixes`` (filecheck's own rule)."""
    pattern = r"(?:^|[^A-Za-z_-])(?:" + "|".join(map(re.escape, prefixes)) + ")" + _SUFFIXES
    return any(re.search(pattern, line) and "RUN" not in line.split(":", 1)[0] for line in text.splitlines())


# --------------------------------------------------------------------------- directives


@dataclass
class Run:
    """One RUN line: the bnnc arguments and the prefixes that check its stdout and stderr."""

    argv: list[str]
    stdout_prefixes: list[str] = field(default_factory=lambda: [STDOUT_PREFIX])
    stderr_prefixes: list[str] = field(default_factory=lambda: [STDERR_PREFIX])


@dataclass
class GoldenTest:
    path: Path
    runs: list[Run]
    exit_code: int = 0


class DirectiveError(Exception):
    pass


_RUN = re.compile(r"^\s*//\s*RUN:(.*)$")
_RUN_EXIT = re.compile(r"^\s*//\s*RUN-EXIT:\s*(-?\d+)\s*$")


def parse_test(path: Path, temp: Path) -> GoldenTest:
    """Read the directives of a test file; ``temp`` is what ``%t`` stands for."""
    commands: list[str] = []
    exit_code = 0
    continued = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if m := _RUN_EXIT.match(line):
            exit_code = int(m[1])
        elif m := _RUN.match(line):
            body = m[1].strip()
            if continued:
                commands[-1] += " " + body.rstrip("\\").strip()
            else:
                commands.append(body.rstrip("\\").strip())
            continued = body.endswith("\\")
        elif re.match(r"^\s*//\s*RUN", line):
            raise DirectiveError(f"{path}:{number}: unknown RUN directive: {line.strip()}")
    if not commands:
        raise DirectiveError(f"{path}: no '// RUN: bnnc %s ...' line")
    return GoldenTest(path, [_parse_run(path, temp, c) for c in commands], exit_code)


def _substitute(token: str, path: Path, temp: Path) -> str:
    table = {"%%": "%", "%s": str(path), "%S": str(path.parent), "%t": str(temp)}
    return re.sub(r"%[%sSt]", lambda m: table[m[0]], token)


def _parse_run(path: Path, temp: Path, command: str) -> Run:
    stages = [s.strip() for s in command.split("|")]
    words = shlex.split(stages[0])
    if not words or words[0] != "bnnc":
        raise DirectiveError(f"{path}: a RUN line must start with 'bnnc', got: {command}")
    run = Run([_substitute(w, path, temp) for w in words[1:]])
    for stage in stages[1:]:
        words = shlex.split(stage)
        if not words or words[0] not in ("filecheck", "FileCheck"):
            raise DirectiveError(f"{path}: only '| filecheck' may follow bnnc in a RUN line, got: {stage}")
        for i, word in enumerate(words[1:], 1):
            for flag in ("--check-prefix", "--check-prefixes", "-check-prefix", "-check-prefixes"):
                if word == flag and i + 1 < len(words):
                    run.stdout_prefixes = words[i + 1].split(",")
                elif word.startswith(flag + "="):
                    run.stdout_prefixes = word.split("=", 1)[1].split(",")
    return run


# --------------------------------------------------------------------------- running


def run_in_process(main: Callable[[list[str]], int], argv: list[str]) -> tuple[int, str, str]:
    """Call ``main(argv)`` capturing stdout and stderr; a SystemExit counts as its exit code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse errors, --version, --help
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:
                print(e.code, file=sys.stderr)
                code = 1
    return (0 if code is None else int(code)), out.getvalue(), err.getvalue()


def filecheck(check_file: Path, output: str, prefixes: list[str], scratch: Path) -> tuple[bool, str]:
    """Match ``output`` against the ``prefixes`` directives of ``check_file``; returns (passed,
    filecheck's diagnostics)."""
    scratch.write_text(output, encoding="utf-8")
    try:
        from filecheck.matcher import Matcher
        from filecheck.options import Options
    except ImportError:  # the package's internals moved: use its command line
        result = subprocess.run(
            [sys.executable, "-m", "filecheck", str(check_file), "--input-file", str(scratch),
             "--check-prefixes", ",".join(prefixes), "--allow-empty"],
            capture_output=True, text=True,
        )
        return result.returncode == 0, result.stdout + result.stderr
    diagnostics = io.StringIO()
    with contextlib.redirect_stderr(diagnostics), contextlib.redirect_stdout(diagnostics):
        options = Options(
            match_filename=str(check_file), input_file=str(scratch), check_prefixes=list(prefixes), allow_empty=True
        )
        code = Matcher.from_opts(options).run()
    return code == 0, diagnostics.getvalue()


def check_file(path: Path, tmp: Path, main: Callable[[list[str]], int]) -> list[str]:
    """Run one test file; returns the failures (empty when it passes)."""
    test = parse_test(path, tmp / "t")
    source = path.read_text(encoding="utf-8")
    failures: list[str] = []
    checked = False
    for i, run in enumerate(test.runs):
        code, out, err = run_in_process(main, run.argv)
        shown = f"$ bnnc {shlex.join(run.argv)}\n--- exit code {code}\n--- stdout:\n{out}--- stderr:\n{err}"
        if code != test.exit_code:
            failures.append(f"expected exit code {test.exit_code}, got {code}\n{shown}")
            continue
        for stream, text, prefixes in (("stdout", out, run.stdout_prefixes), ("stderr", err, run.stderr_prefixes)):
            if not _has_checks(source, prefixes):
                continue
            checked = True
            ok, diagnostics = filecheck(path, text, prefixes, tmp / f"run{i}.{stream}.txt")
            if not ok:
                failures.append(f"filecheck --check-prefixes={','.join(prefixes)} failed on {stream}:\n{diagnostics}\n{shown}")
    if not checked and not failures:
        failures.append(f"{path}: no CHECK or CHECK-ERR lines")
    return failures


# --------------------------------------------------------------------------- the tests


def _collect() -> list:
    files = sorted(ROOT.rglob("*.bir"))
    return [pytest.param(p, id=p.relative_to(ROOT).as_posix()) for p in files]


@pytest.mark.parametrize("path", _collect())
def test_filecheck(path: Path, tmp_path: Path) -> None:
    if cli is None:
        pytest.skip("bnnc.cli does not exist yet (these tests run once it does)")
    failures = check_file(path, tmp_path, cli.main)
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


# -- the runner itself, against a stand-in for bnnc.cli.main


def _echo_main(argv: list[str]) -> int:
    """A fake bnnc: prints the file given after its options; ``--fail`` exits 2 with a message."""
    path = Path(argv[0])
    if "--fail" in argv:
        print(f"{path}:3:5: error: boom", file=sys.stderr)
        return 2
    if "--usage" in argv:
        raise SystemExit(2)
    sys.stdout.write("".join(line + "\n" for line in path.read_text().splitlines() if not line.lstrip().startswith("//")))
    return 0


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "case.bir"
    path.write_text(text)
    return path


def test_runner_passes_and_fails(tmp_path: Path) -> None:
    good = _write(tmp_path, "// RUN: bnnc %s --emit ir\nmodule {\n}\n// CHECK: module {\n// CHECK-NEXT: }\n")
    assert check_file(good, tmp_path, _echo_main) == []
    bad = _write(tmp_path, "// RUN: bnnc %s --emit ir\nmodule {\n}\n// CHECK: module @other\n")
    [failure] = check_file(bad, tmp_path, _echo_main)
    assert "failed on stdout" in failure and "module @other" in failure
    negative = _write(tmp_path, "// RUN: bnnc %s\nmodule {\n}\n// CHECK-NOT: module\n")
    assert check_file(negative, tmp_path, _echo_main)


def test_runner_exit_codes_and_stderr(tmp_path: Path) -> None:
    text = "// RUN: bnnc %s --fail\n// RUN-EXIT: 2\nmodule {\n// CHECK-ERR: case.bir:3:5: error: boom\n"
    assert check_file(_write(tmp_path, text), tmp_path, _echo_main) == []
    wrong_message = text.replace("error: boom", "error: bang")
    assert "failed on stderr" in check_file(_write(tmp_path, wrong_message), tmp_path, _echo_main)[0]
    wrong_code = text.replace("RUN-EXIT: 2", "RUN-EXIT: 1")
    assert "expected exit code 1, got 2" in check_file(_write(tmp_path, wrong_code), tmp_path, _echo_main)[0]
    no_exit = text.replace("// RUN-EXIT: 2\n", "")
    assert "expected exit code 0, got 2" in check_file(_write(tmp_path, no_exit), tmp_path, _echo_main)[0]
    usage = "// RUN: bnnc %s --usage\n// RUN-EXIT: 2\n// CHECK-ERR-NOT: error\n"
    assert check_file(_write(tmp_path, usage), tmp_path, _echo_main) == []


def test_runner_directives(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "// RUN: bnnc %s -o %t -p 'a,b' \\\n// RUN:   --emit ir | filecheck %s --check-prefix=ONE\n"
        "// RUN: bnnc %s --x=100%% | filecheck %s --check-prefixes=TWO,THREE\n",
    )
    test = parse_test(path, tmp_path / "t")
    assert test.exit_code == 0
    assert [r.argv for r in test.runs] == [
        [str(path), "-o", str(tmp_path / "t"), "-p", "a,b", "--emit", "ir"],
        [str(path), "--x=100%"],
    ]
    assert [r.stdout_prefixes for r in test.runs] == [["ONE"], ["TWO", "THREE"]]
    with pytest.raises(DirectiveError, match="no '// RUN: bnnc"):
        parse_test(_write(tmp_path, "module {\n}\n"), tmp_path)
    with pytest.raises(DirectiveError, match="must start with 'bnnc'"):
        parse_test(_write(tmp_path, "// RUN: opt %s\n"), tmp_path)
    nothing = _write(tmp_path, "// RUN: bnnc %s\nmodule {\n}\n")
    assert "no CHECK or CHECK-ERR lines" in check_file(nothing, tmp_path, _echo_main)[0]


def test_check_err_lines_are_not_check_lines() -> None:
    assert _has_checks("// CHECK-ERR: x", [STDERR_PREFIX])
    assert _has_checks("// CHECK-ERR-NEXT: x", [STDERR_PREFIX])
    assert not _has_checks("// CHECK-ERR: x", [STDOUT_PREFIX])
    assert _has_checks("// CHECK-LABEL: x", [STDOUT_PREFIX])
    assert not _has_checks("// RUN: bnnc %s | filecheck %s --check-prefix=CHECK", [STDOUT_PREFIX])


def test_every_golden_file_has_a_run_line() -> None:
    """Collection guard: a typo in a RUN line fails here even while bnnc.cli is missing."""
    files = sorted(ROOT.rglob("*.bir"))
    assert files, f"no golden tests under {ROOT}"
    for path in files:
        parse_test(path, Path("/nonexistent"))


def test_every_built_in_pass_has_a_golden_file_named_after_it() -> None:
    from bnnc.passes import registered_passes

    passes = ROOT / "passes"
    for name, cls in registered_passes().items():
        if cls.__module__.startswith("bnnc.passes."):
            stem = name.replace("-", "_")
            assert (passes / f"{stem}.bir").is_file(), f"pass {name} needs tests/filecheck/passes/{stem}.bir"
