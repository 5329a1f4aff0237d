"""psweep report: one self-contained HTML file of a study, checked in headless Chromium.

The studies are real: the study template's demo (its input.py rendered from
the template, its eval.py as it is), and a study of run_local with failures.
Each report is opened in Chromium without network access: a screenshot is
taken, and a script injected into a copy of the page records whether every
image loaded and whether anything raised or logged an error.
"""

from __future__ import annotations

import html.parser
import importlib.util
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
import psweep.observe.report_figures
from psweep.observe.reporting import main, report, split_columns

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


class Tables(html.parser.HTMLParser):
    """The cells of every table of a page, as lists of rows (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None


def table(text: str, first_header: str) -> list[dict[str, str]]:
    """The rows of the page's table whose first column is `first_header`, as dicts."""
    parser = Tables()
    parser.feed(text)
    for rows in parser.tables:
        if rows and rows[0] and rows[0][0] == first_header:
            return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    raise AssertionError(f"no table with first column {first_header!r}")


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
    assert "No heat maps: no row failed" in text
    assert "<h3>phase / rad</h3>" in text  # eval.py passes its units
    links = assert_self_contained(page)
    # amplitude and phase over omega, damper, zeta; no heat maps: nothing failed, no gaps
    assert len([u for u in links.urls if u.startswith("data:")]) == 2
    assert_browser_ok(page, tmp_path, images=2)


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
    """python -m psweep.observe.reporting runs main."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "psweep.observe.reporting",
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


def test_constant_and_partial_parameters(tmp_path, monkeypatch):
    """A parameter with one value is constant, also where some psets lack it; the rows
    without it are counted, not listed as a value nan."""
    monkeypatch.chdir(tmp_path)
    func = lambda p: {"y": p["a"] * 2.0}  # noqa: E731
    ps.run_local(func, [{"a": a, "method": "rk4"} for a in (1.0, 2.0, 3.0)])
    later = [{"a": a, "method": "rk4", "order": 2, "shape": [2, 2]} for a in (1.0, 2.0)]
    ps.run_local(func, later)
    text = report("calc", "r.html").read_text()
    rows = {row["parameter"]: row for row in table(text, "parameter")}
    assert set(rows) == {"a", "method", "order", "shape"}
    assert rows["a"]["values"] == "3" and rows["a"]["varied"] == "varied"
    assert rows["method"]["varied"] == "constant" and rows["method"]["rows without it"] == ""
    for name, value in (("order", "2"), ("shape", "[2, 2]")):
        assert rows[name]["values"] == "1", rows[name]
        assert rows[name]["varied"] == "constant"
        assert rows[name]["rows without it"] == "3 of 5"
        assert rows[name]["some values"] == value
    assert "nan" not in text.lower().replace("nanny", "")
    assert "1 of 4 parameters varied" in text
    assert "3 combinations of a have rows" in text


def test_heat_maps_only_where_they_say_something(tmp_path, monkeypatch):
    """Without failures a complete grid gets no heat map; a pair of values without rows
    does, and so does every pair once a row failed."""
    monkeypatch.chdir(tmp_path)
    grid = ps.pgrid(ps.plist("a", [1, 2, 3]), ps.plist("b", [1, 2]), ps.plist("c", [5, 6]))
    ps.run_local(lambda p: {"y": p["a"] * p["b"]}, grid)
    text = report("calc", "full.html").read_text()
    assert text.count('alt="coverage heat map') == 0
    assert "No heat maps: no row failed" in text
    assert "No failed rows." in text

    gap = [p for p in grid if not (p["a"] == 3 and p["b"] == 2)]  # (a, b) = (3, 2) never
    ps.run_local(lambda p: {"y": p["a"] * p["b"]}, gap, calc_dir="gap")
    text = report("gap", "gap.html").read_text()
    assert re.findall(r'alt="(coverage heat map[^"]*)"', text) == ["coverage heat map of (a, b)"]
    assert "No heat maps" not in text

    def fail_a3(pset):
        if pset["a"] == 3:
            raise ValueError("a=3")
        return {"y": 1.0}

    ps.run_local(fail_a3, grid, calc_dir="failed", on_error="record")
    text = report("failed", "failed.html").read_text()
    assert text.count('alt="coverage heat map') == 3


def details(text: str) -> list[tuple[bool, str]]:
    """Each <details> of the page: whether it is open, and its summary line."""
    found = re.findall(r"<details( open)?><summary>(.*?)</summary>", text, re.S)
    return [(bool(opened), summary) for opened, summary in found]


@needs_chromium
def test_long_coverage_table_is_folded(tmp_path, monkeypatch):
    """200 combinations: their table is folded under one summary line; nothing is missing,
    so no list of missing combinations."""
    monkeypatch.chdir(tmp_path)
    grid = ps.pgrid(
        ps.plist("a", [float(a) for a in np.linspace(0, 1, 20)]),
        ps.plist("b", list(range(1, 11))),
        ps.plist("method", ["rk4"]),
    )
    ps.run_local(lambda p: {"y": p["a"] * p["b"]}, grid)
    page = report("calc", tmp_path / "grid.html")
    text = page.read_text()
    assert "200 combinations of a, b have rows" in text
    assert "would be 200." in text
    assert details(text) == [(False, "Rows per combination: 200 combinations")]
    assert len(table(text, "a")) == 200  # still there, folded
    assert "have no rows" not in text
    assert_browser_ok(page, tmp_path, images=1)  # y over a and b; no heat maps


def test_missing_combinations_are_listed(tmp_path, monkeypatch):
    """Combinations of the varied values without rows are listed (a zip counted once);
    short tables are open."""
    monkeypatch.chdir(tmp_path)
    bc = zip(ps.plist("b", [1, 2]), ps.plist("c", ["x", "y"]), strict=True)
    grid = ps.pgrid(ps.plist("a", [1, 2, 3]), bc, ps.plist("d", [0.5, 1.5]))
    left_out = [(3, 2, "y", 1.5), (1, 1, "x", 0.5)]
    run = [p for p in grid if (p["a"], p["b"], p["c"], p["d"]) not in left_out]
    ps.run_local(lambda p: {"y": p["a"] * p["b"] * p["d"]}, run)
    text = report("calc", "m.html").read_text()
    assert "10 combinations of a, b, c, d have rows" in text
    assert details(text) == [
        (True, "2 of the 12 combinations have no rows"),
        (True, "Rows per combination: 10 combinations"),
    ]
    missing = table(text, "a")
    assert [(r["a"], r["b"], r["c"], r["d"]) for r in missing] == [
        ("1", "1", "x", "0.5"),
        ("3", "2", "y", "1.5"),
    ]


def test_study_figure_and_report_agree(demo_study, tmp_path, monkeypatch):
    """eval.py's overview.png and the report draw each damper in the same colour, with the
    same legend label, and phase in radians on the same ticks. The report's figures are
    caught on their way to PNG (a spy on psweep.observe.report_figures._png), as the PNG has
    no lines."""
    matplotlib = pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("study_eval", demo_study / "eval.py")
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    monkeypatch.chdir(demo_study)
    fig = study.plot(study.read_study(), str(tmp_path / "overview.png"))
    drawn = []
    png = psweep.observe.report_figures._png
    monkeypatch.setattr(
        psweep.observe.report_figures, "_png", lambda f, dpi: drawn.append(f) or png(f, dpi)
    )
    report("calc", tmp_path / "r.html", units=study.UNITS, log_axes=study.LOG)
    phase_over_omega = next(f.axes[0] for f in drawn if f.axes[0].get_ylabel().startswith("phase"))
    amp_over_omega = next(f.axes[0] for f in drawn if f.axes[0].get_ylabel() == "amplitude")

    def colours(ax):
        return {ln.get_label(): matplotlib.colors.to_hex(ln.get_color()) for ln in ax.lines}

    ax_amp, ax_phase = fig.axes
    assert (
        colours(ax_phase)
        == colours(phase_over_omega)
        == {
            "damper=weak, zeta=0.05": psweep.observe.plotstyle.COLORS[0],
            "damper=medium, zeta=0.2": psweep.observe.plotstyle.COLORS[1],
            "damper=strong, zeta=0.5": psweep.observe.plotstyle.COLORS[2],
        }
    )
    for ax in (ax_phase, phase_over_omega):
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("omega / natural frequency", "phase / rad")
        ticks = [t for t in ax.yaxis.get_major_locator().tick_values(0, np.pi) if t >= -1e-9]
        labels = [ax.yaxis.get_major_formatter()(t) for t in ticks if t <= np.pi + 1e-9]
        assert labels == ["0", "π/4", "π/2", "3π/4", "π"]
    assert ax_amp.get_ylabel() == "amplitude"
    scales = [(ax.get_xscale(), ax.get_yscale()) for ax in (ax_amp, amp_over_omega)]
    assert scales == [("linear", "log")] * 2
    assert (ax_phase.get_yscale(), phase_over_omega.get_yscale()) == ("linear", "linear")


def test_log_axes_by_the_data_or_by_name(tmp_path, monkeypatch, capsys):
    """A result spanning two decades or more gets a log axis, a narrow one a linear axis;
    log_axes (--log-axes) names them instead, '' none; a name that is no column is an
    error naming it. Values not all positive stay linear."""
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    ps.run_local(
        lambda p: {"wide": 10.0 ** p["a"], "narrow": p["a"] + 1.0, "signed": p["a"] - 1.0},
        ps.plist("a", [0, 1, 2, 3]),
    )
    drawn = []
    png = psweep.observe.report_figures._png
    monkeypatch.setattr(
        psweep.observe.report_figures, "_png", lambda f, dpi: drawn.append(f) or png(f, dpi)
    )

    def yscales():
        out = {f.axes[0].get_ylabel(): f.axes[0].get_yscale() for f in drawn}
        drawn.clear()
        return out

    report("calc", tmp_path / "a.html")
    assert yscales() == {"wide": "log", "narrow": "linear", "signed": "linear"}
    report("calc", tmp_path / "b.html", log_axes=["narrow", "signed"])
    assert yscales() == {"wide": "linear", "narrow": "log", "signed": "linear"}
    assert main(["calc", "--log-axes", "narrow", "-o", str(tmp_path / "c.html")]) == 0
    assert yscales() == {"wide": "linear", "narrow": "log", "signed": "linear"}
    assert main(["calc", "--log-axes", "", "-o", str(tmp_path / "d.html")]) == 0
    assert set(yscales().values()) == {"linear"}
    with pytest.raises(ps.PsweepDatabaseError, match=r"log axes for \['nope'\]: not param"):
        report("calc", tmp_path / "e.html", log_axes=["nope"])


def test_units_are_checked(failing_study, tmp_path, capsys):
    """A unit for a column that is neither parameter nor result is an error naming it;
    --units takes NAME=UNIT pairs."""
    with pytest.raises(ps.PsweepDatabaseError, match=r"units for \['nope'\]: not parameters"):
        report(failing_study, tmp_path / "u.html", units={"x": "m", "nope": "s"})
    with pytest.raises(SystemExit) as exc:
        main([str(failing_study), "--units", "x=m,steps", "-o", str(tmp_path / "u.html")])
    assert exc.value.code == 2
    assert "--units needs NAME=UNIT pairs" in capsys.readouterr().err
    assert main([str(failing_study), "--units", "x=m,err=1", "-o", str(tmp_path / "u.html")]) == 0
    text = (tmp_path / "u.html").read_text()
    assert "<h3>err / 1</h3>" in text and "<h3>steps</h3>" in text


def _img_count(text: str) -> int:
    return text.count('src="data:image/png;base64,')


def test_text_with_dollar_signs(tmp_path, monkeypatch):
    """Values and names with $ ($HOME/run_$USER) are shown as text, not parsed as math
    (issue 20)."""
    monkeypatch.chdir(tmp_path)
    params = ps.pgrid(
        ps.plist("path", ["$HOME/run_$USER", "$x$", "a$b"]), ps.plist("$n", [1, 2, 3])
    )
    ps.run_local(lambda p: {"r": p["$n"] * 1.5} if p["path"] != "$x$" or p["$n"] != 2
                 else 1 / 0, params, on_error="record")  # fmt: skip
    text = report("calc", "r.html").read_text()
    assert _img_count(text) == 2  # r over path and $n, a heat map (one failed)
    assert "$HOME/run_$USER" in text


def test_complex_results_and_parameters(tmp_path, monkeypatch):
    """A complex result is drawn as its real and imaginary parts; a complex parameter is
    a category (issue 20)."""
    monkeypatch.chdir(tmp_path)
    params = ps.pgrid(ps.plist("b", [1, 2, 3]), ps.plist("c", [1j, 2 + 0j]))
    ps.run_local(lambda p: {"z": complex(p["b"], 1) * p["c"], "r": float(p["b"])}, params)
    text = report("calc", "r.html").read_text()
    assert "z.real" in text and "z.imag" in text
    assert _img_count(text) == 3  # z.real, z.imag, r


def test_int_parameter_names(tmp_path, monkeypatch):
    """Parameters named by ints (psets {1: ...}) are parameters, no KeyError (issue 20)."""
    monkeypatch.chdir(tmp_path)
    params = ps.pgrid(ps.plist(1, [1, 2]), ps.plist("b", [1, 2, 3]))
    df = ps.run_local(lambda p: {"r": p[1] + p["b"], 2: "x"} if p["b"] != 3 else 1 / 0,
                      params, on_error="record")  # fmt: skip
    assert split_columns(df) == ([1, "b"], ["r", 2])
    text = report("calc", "r.html").read_text()
    assert _img_count(text) >= 2
    assert "ZeroDivisionError" in text


def test_zipped_parameters_share_one_axes(tmp_path, monkeypatch):
    """Parameters zipped with each other draw the same lines: the result is drawn over the
    numeric one only, and a note under the figure says so."""
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    params = ps.pgrid(
        ps.plist("omega", [0.5, 1.0, 2.0]),
        zip(ps.plist("damper", ["weak", "strong"]), ps.plist("zeta", [0.05, 0.5]), strict=True),
    )
    ps.run_local(lambda p: {"amplitude": p["omega"] / p["zeta"]}, params)
    drawn = []
    png = psweep.observe.report_figures._png
    monkeypatch.setattr(
        psweep.observe.report_figures, "_png", lambda f, dpi: drawn.append(f) or png(f, dpi)
    )
    report("calc", tmp_path / "z.html")
    (fig,) = drawn
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in visible] == ["omega", "zeta"]
    assert (
        "damper zipped with zeta (one value for each of its values): amplitude drawn over zeta only"
        in (tmp_path / "z.html").read_text()
    )
