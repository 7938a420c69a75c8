"""CNV's report.html in headless Chromium (an external oracle: ``.ci/run`` installs the Debian
package): the screenshot is a non-blank image of the window's size, and in the rendered page
every figure is there with its axis labels and ticks, and no text of any figure reaches past
its SVG's box (a clipped layer name would)."""

from __future__ import annotations

import json
import re
import struct
import subprocess
from pathlib import Path

import matplotlib.image

from bnnc.cli import main
from bnnc.figures.plot import wrap_label
from tests.conftest import require_tool
from tests.test_figures import long_named_cnv

WIDTH, HEIGHT = 1200, 2400

PROBE = """<script>
window.addEventListener("load", () => {
  const figures = [...document.querySelectorAll("figure")].map(figure => {
    const svg = figure.querySelector("svg"), box = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll("g[id^=text_]")].map(g => {
      const r = g.getBoundingClientRect();
      const words = [...g.childNodes].filter(n => n.nodeType === 8).map(n => n.textContent.trim()).join(" ");
      return {text: words, inside: r.width === 0 || (r.left >= box.left - 1 && r.right <= box.right + 1
                                                     && r.top >= box.top - 1 && r.bottom <= box.bottom + 1)};
    });
    return {id: figure.id, width: box.width, height: box.height, texts,
            xticks: svg.querySelectorAll("g[id^=xtick_]").length, yticks: svg.querySelectorAll("g[id^=ytick_]").length};
  });
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(figures);
  document.body.appendChild(pre);
});
</script>"""


def _chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180,
    )


def test_cnv_report_renders_with_labelled_figures(tmp_path: Path) -> None:
    browser = require_tool("chromium")
    names = long_named_cnv(tmp_path / "cnv.onnx")
    assert main([str(tmp_path / "cnv.onnx"), "-o", str(tmp_path / "out"), "--scheme", "all", "--golden-inputs", "2", "-q"]) == 0
    page = tmp_path / "out" / "report.html"

    shot = tmp_path / "shot.png"
    result = _chromium(browser, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri())
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24]) == (WIDTH, HEIGHT)
    pixels = matplotlib.image.imread(shot)[..., :3]
    inked = (pixels.min(axis=2) < 0.9).mean()
    colored = (pixels.max(axis=2) - pixels.min(axis=2) > 0.2).mean()
    assert inked > 0.03 and colored > 0.005  # text, axes and coloured bars, not a blank page

    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    result = _chromium(browser, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found, result.stdout[-2000:]
    figures = {f["id"]: f for f in json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")
                                               .replace("&lt;", "<").replace("&gt;", ">"))}
    assert set(figures) == {f"figure-{n}" for n in ("layers", "components", "timeline", "utilization", "comparison")}
    labels = {
        "layers": ["arrays", "energy per inference (nJ)", "area (mm²)", "layer"],
        "components": ["energy per inference (nJ)", "area (mm²)", "layer"],
        "timeline": ["time since the input arrives (µs)", "layer"],
        "utilization": ["time since the input arrives (µs)", "arrays busy (% of all)"],
        "comparison": ["arrays", "energy (nJ)", "area (mm²)", "latency (ns)"],
    }
    for name, expected in labels.items():
        figure = figures[f"figure-{name}"]
        texts = [t["text"] for t in figure["texts"]]
        assert figure["width"] > 300 and figure["height"] > 100, name
        assert all(label in texts for label in expected), (name, texts)
        assert figure["xticks"] >= 3 and figure["yticks"] >= 3, name
        outside = [t["text"] for t in figure["texts"] if not t["inside"]]
        assert not outside, (name, outside)
    shown = " ".join(t["text"] for t in figures["figure-layers"]["texts"])
    assert all(line in shown for name in names for line in wrap_label(name).split("\n"))  # every layer name, whole
