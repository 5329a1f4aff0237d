"""psweep report: one self-contained HTML file of a study, checked in headless Chromium.

The studies are real: the study template's demo (its input.py rendered from
the template, its eval.py as it is), and a study of run_local with failures.
Each report is opened in Chromium without network access: a screenshot is
taken, and a script injected into a copy of the page records whether every
image loaded and whether anything raised or logged an error.
"""

from __future__ import annotations

import html.parser
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import numpy as np
import pytest

import psweep as ps
from psweep.reporting import main, report, split_columns

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.needs_tool("chromium|chromium-browser")
MAX_BYTES = 20 * 10**6

CHECK_SCRIPT = """<script>
(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    var t = e.target || {};
    errors.push("error: " + (e.message || t.src || t.href || t.tagName));
  }, true);
  var orig = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    orig.apply(console, arguments);
  };
  window.addEventListener("load", function () {
    var bad = [];
    for (var i = 0; i < document.images.length; i++) {
      var img = document.images[i];
      if (!(img.complete && img.naturalWidth > 0)) bad.push(img.alt || String(i));
    }
    var pre = document.createElement("pre");
    pre.id = "check";
    pre.textContent = JSON.stringify({images: document.images.length, broken: bad,
                                      errors: errors});
    document.body.appendChild(pre);
  });
})();
</script>"""


def chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Headless Chromium with a fresh profile, every host name unresolvable (no network)."""
    argv = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    argv += [
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ]
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path
    )


def check_in_browser(page: Path, tmp_path: Path) -> dict:
    """Load `page` in Chromium: a screenshot next to it, and what the injected check saw."""
    shot = page.with_suffix(".png")
    chromium([f"--screenshot={shot}", "--window-size=1280,4000", page.as_uri()], tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    probe = page.with_name(page.stem + "-check.html")
    probe.write_text(page.read_text().replace("<head>", "<head>" + CHECK_SCRIPT, 1))
    logged = ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000"]
    proc = chromium([*logged, "--dump-dom", probe.as_uri()], tmp_path)
    match = re.search(r'<pre id="check">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"the check did not run; stderr:\n{proc.stderr[-2000:]}"
    seen = json.loads(html.unescape(match.group(1)))
    seen["console"] = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    return seen


class Links(html.parser.HTMLParser):
    """Every src and href of a page, and the tags that would load something."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.loaders: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [val or "" for key, val in attrs if key in ("src", "href")]
        if tag in ("link", "iframe") or (tag == "script" and dict(attrs).get("src")):
            self.loaders.append(tag)


def assert_self_contained(page: Path) -> Links:
    """Under 20 MB, no src/href other than data: URIs and #anchors, no <link>/<script src>."""
    assert page.stat().st_size < MAX_BYTES
    links = Links()
    links.feed(page.read_text())
    assert links.loaders == []
    assert [u for u in links.urls if not u.startswith(("data:image/png;base64,", "#"))] == []
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page.read_text())
    return links


def assert_browser_ok(page: Path, tmp_path: Path, images: int) -> None:
    seen = check_in_browser(page, tmp_path)
    assert seen["errors"] == [] and seen["console"] == [], seen
    assert seen["broken"] == [], seen
    assert seen["images"] == images


# --- studies -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_study(tmp_path_factory) -> Path:
    """The study template's demo: input.py rendered from the template, eval.py as it is."""
    study = tmp_path_factory.mktemp("demo") / "demo study"
    study.mkdir()
    text = (ROOT / "template" / "input.py.jinja").read_text()
    answers = dict(study_name="demo-study", description="a demo", git_init=False)
    (study / "input.py").write_text(
        jinja2.Template(text, keep_trailing_newline=True).render(**answers, data_tracking="none")
    )
    shutil.copy(ROOT / "template" / "eval.py", study / "eval.py")
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    for script in (["input.py", "--no-git"], ["input.py", "--no-git"], ["eval.py"]):
        proc = subprocess.run(
            [sys.executable, *script], cwd=study, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "results/report.html" in proc.stdout
    return study


def flaky(pset):
    """A noisy result that fails for some psets."""
    if pset["solver"] == "fast" and pset["n"] >= 40:
        raise ArithmeticError(f"no convergence after {pset['n']} steps\n(solver {pset['solver']})")
    if pset["x"] < 0 and pset["n"] == 10:
        raise ValueError("x must be >= 0 for n=10")
    err = abs(pset["x"]) / pset["n"] + 1e-3 * (1 + random.random())
    return {"err": err, "steps": pset["n"] * 2, "ok_": True}


GRID = ps.pgrid(
    ps.plist("x", [-1.0, -0.5, 0.0, 0.5, 1.0]),
    ps.plist("n", [10, 20, 40]),
    ps.plist("solver", ["fast", "exact"]),
)


@pytest.fixture
def failing_study(tmp_path, monkeypatch) -> Path:
    """Two runs of run_local(on_error="record"), the second repeats the psets with x=1."""
    monkeypatch.chdir(tmp_path)
    ps.run_local(flaky, GRID, on_error="record")
    ps.run_local(flaky, [p for p in GRID if p["x"] == 1.0], on_error="record")
    return tmp_path / "calc"


# --- tests -------------------------------------------------------------------------------


def test_split_columns(tmp_path, monkeypatch):
    """Parameters are the pset columns, also one a later run added; results the rest."""
    monkeypatch.chdir(tmp_path)
    ps.run_local(flaky, GRID[:3], on_error="record")
    df = ps.run_local(flaky, [{**p, "order": 2} for p in GRID[:3]], on_error="record")
    assert df.columns[-1] == "order"  # appended after the bookkeeping and the results
    assert split_columns(df) == (["x", "n", "solver", "order"], ["err", "steps", "ok_"])
    assert split_columns(df.iloc[:3]) == (["x", "n", "solver"], ["err", "steps", "ok_", "order"])


@needs_chromium
def test_demo_study_report(demo_study, tmp_path):
    """eval.py writes results/report.html next to overview.png; Chromium shows it whole."""
    page = demo_study / "results" / "report.html"
    assert (demo_study / "results" / "overview.png").is_file()
    text = page.read_text()
    assert "<h1>demo study</h1>" in text
    for run_id in ps.df_read(demo_study / "calc" / "database.pk")["_run_id"].unique():
        assert run_id in text
    assert "48 rows (24 distinct psets) from 2 runs, 0 failed" in text
    assert "24 combinations of omega, damper, zeta have rows" in text
    assert "would be 24, counting zipped parameters once (damper with zeta)." in text
    assert "No failed rows." in text
    links = assert_self_contained(page)
    # amplitude and phase over omega, damper, zeta; coverage heat maps of the 3 pairs
    assert len([u for u in links.urls if u.startswith("data:")]) == 2 + 3
    assert_browser_ok(page, tmp_path, images=5)


@needs_chromium
def test_failures_report(failing_study, tmp_path, capsys):
    """Failed rows are listed with their exception, and counted per combination."""
    out = tmp_path / "out" / "report.html"
    assert main([str(failing_study), "-o", str(out), "--title", "flaky <study>"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    assert "<title>flaky &lt;study&gt;</title>" in text  # escaped, not markup
    assert "10 of 36 rows failed" in text
    assert "ArithmeticError: no convergence after 40 steps / (solver fast)" in text
    assert "ValueError: x must be &gt;= 0 for n=10" in text
    assert "30 combinations of x, n, solver have rows (21 with a successful one, 9 with" in text
    links = assert_self_contained(out)
    # err and steps over x, n, solver (ok_ is bool, not drawn); heat maps of 3 pairs
    assert len(links.urls) - len([u for u in links.urls if u.startswith("#")]) == 2 + 3
    assert_browser_ok(out, tmp_path, images=5)


def test_scatter_for_many_combinations(tmp_path, monkeypatch):
    """More combinations of the other parameters than max_lines: a scatter, said so."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    params = [{"a": float(a), "b": int(b)} for a, b in rng.integers(0, 30, size=(200, 2))]
    ps.run_local(lambda p: {"y": p["a"] * p["b"]}, ps.filter_same_hash(params))
    text = report("calc", "r.html", max_lines=5).read_text()
    assert "too many for lines" in text
    assert "y over a: " in text and "combinations of b" in text


def test_coverage_counts_zipped_parameters_once(tmp_path, monkeypatch):
    """a x zip(b, c) with one combination left out: 5 of 6, not of 18; a grid says no zip."""
    monkeypatch.chdir(tmp_path)
    bc = zip(ps.plist("b", [1, 2, 3]), ps.plist("c", ["x", "y", "z"]), strict=True)
    params = ps.pgrid(ps.plist("a", [1, 2]), bc)
    ps.run_local(lambda p: {"y": p["a"] * p["b"]}, params[:-1])
    text = report("calc", "z.html").read_text()
    assert "5 combinations of a, b, c have rows" in text
    assert "would be 6, counting zipped parameters once (b with c)." in text
    ps.run_local(
        lambda p: {"y": p["a"] * p["b"]},
        ps.pgrid(ps.plist("a", [1, 2]), ps.plist("b", [1, 2])),
        calc_dir="g",
    )
    text = report("g", "g.html").read_text()
    assert "all combinations of their values would be 4." in text


def test_given_params_and_errors(failing_study, tmp_path, capsys):
    """--params overrides the rule; a missing database or column is one line, status 1."""
    out = report(failing_study, tmp_path / "p.html", params=["x", "n"])
    assert "2 of 2 parameters varied, 2 numeric results" in out.read_text()
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "nowhere")])
    assert exc.value.code == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(failing_study), "--params", "x,nope", "-o", str(tmp_path / "q.html")])
    assert "['nope'] are not columns" in capsys.readouterr().err
    assert not (tmp_path / "q.html").exists()


def test_python_m(failing_study, tmp_path):
    """python -m psweep.reporting runs main."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "psweep.reporting",
            str(failing_study),
            "-o",
            str(tmp_path / "m.html"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m.html").stat().st_size > 10_000


def test_example_script(tmp_path):
    """examples/report.py runs a study with two failures and writes report.html."""
    shutil.copy(ROOT / "examples" / "report.py", tmp_path)
    proc = subprocess.run(
        [sys.executable, "report.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "18 rows, 2 failed; wrote report.html" in proc.stdout
    text = (tmp_path / "report.html").read_text()
    assert "ArithmeticError: no convergence for x=0.8 with n=10" in text
    assert_self_contained(tmp_path / "report.html")


def test_default_title_is_the_study_folder(tmp_path, monkeypatch):
    """Without --title the report is named after the folder that holds the calc dir."""
    study = tmp_path / "my study"
    study.mkdir()
    monkeypatch.chdir(study)
    ps.run_local(lambda p: {"y": p["a"] * 2.0}, ps.plist("a", [1.0, 2.0, 3.0]))
    out = report("calc", "r.html")
    assert "<title>my study</title>" in Path(out).read_text()
