"""Writing (or checking) a generated fixture folder: its ``.onnx`` files and their MANIFEST.json."""

from __future__ import annotations

import json
from pathlib import Path


def write_or_check(out: Path, files: dict[str, tuple[bytes, dict]], versions: dict[str, str], check: bool) -> int:
    """Write ``files`` (name → (bytes, manifest entry)) and MANIFEST.json (``versions`` plus the
    entries) into ``out``, deleting ``.onnx`` files no longer generated; with ``check``, write
    nothing and say which files differ from a fresh export. Returns the exit code (1: stale)."""
    manifest = {**versions, "fixtures": {name: entry for name, (_, entry) in sorted(files.items())}}
    manifest_text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    manifest_path = out / "MANIFEST.json"
    if check:
        stale = [name for name, (data, _) in files.items()
                 if not (out / name).exists() or (out / name).read_bytes() != data]
        if not manifest_path.exists() or manifest_path.read_text() != manifest_text:
            stale.append("MANIFEST.json")
        print("up to date" if not stale else f"differ: {', '.join(sorted(stale))}")
        return 1 if stale else 0
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.onnx"):
        if old.name not in files:
            old.unlink()
    for name, (data, _) in files.items():
        (out / name).write_bytes(data)
    manifest_path.write_text(manifest_text)
    print(f"wrote {len(files)} files ({sum(len(data) for data, _ in files.values())} bytes) to {out}")
    return 0
