"""The docs site: it builds without a warning, offline, and a reader finds things in it.

The site is built once per module (``sphinx -W -n``: warnings and unresolved
references are errors), in a network namespace of its own where ``unshare -n``
can make one, unless ``PSWEEP_DOCS_HTML`` names a site ``nox -s docs`` has just
built. Headless Chromium then opens it from disk, with every host name
unresolvable, as a reader without network would.
"""

from __future__ import annotations

import html
import html.parser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import psweep

pytest.importorskip("sphinx")

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.needs_tool("chromium|chromium-browser")
PUBLIC = [name for name in psweep.__all__]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The built HTML site."""
    given = os.environ.get("PSWEEP_DOCS_HTML")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("docs") / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-q", "-b", "html"]
    cmd = [*_without_network(), *cmd]
    proc = subprocess.run(
        [*cmd, "-d", str(out.parent / "doctrees"), str(ROOT / "docs"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, (
        f"sphinx-build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    )
    return out


def _without_network() -> list[str]:
    """``unshare -n`` where this user may make a network namespace (no interface but
    loopback: the build must not download anything), else nothing."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], check=False).returncode == 0:
        return [unshare, "-n"]
    return []


def chromium(args: list[str], tmp_path: Path) -> str:
    """Headless Chromium with a fresh profile and no network; what it printed."""
    argv = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    argv += [
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--disable-background-networking",
        "--no-first-run",
    ]
    proc = subprocess.run(
        [*argv, *args], capture_output=True, text=True, timeout=120, check=True, cwd=tmp_path
    )
    return proc.stdout


def inventory(site: Path) -> dict[str, str]:
    """``name -> uri`` of every Python object in the site's objects.inv."""
    from sphinx.util.inventory import InventoryFile

    with open(site / "objects.inv", "rb") as fh:
        inv = InventoryFile.load(fh, "", lambda base, uri: uri)
    out = {}
    for role, items in inv.items():
        if role.startswith("py:"):
            for name, item in items.items():
                out[name] = item[2] if isinstance(item, tuple) else item.uri
    return out


def test_every_public_name_is_in_the_reference(site: Path) -> None:
    """Each name of psweep.__all__ has its entry on the API page."""
    objects = inventory(site)
    missing = [n for n in PUBLIC if f"psweep.{n}" not in objects]
    assert missing == [], f"public names missing from the reference: {missing}"
    assert {objects[f"psweep.{n}"].split("#")[0] for n in PUBLIC} == {"reference/api.html"}


def test_no_page_is_orphaned_or_empty(site: Path) -> None:
    """Every page of docs/ is built, and none is a stub."""
    for md in (ROOT / "docs").rglob("*.md"):
        if "_build" in md.parts:
            continue
        page = site / md.relative_to(ROOT / "docs").with_suffix(".html")
        assert page.is_file(), f"{md} was not built"
        assert "To be written" not in page.read_text(), f"{md} is a stub"


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if tag in ("a", "link") and values.get("href"):
            self.hrefs.append(values["href"] or "")


def _parse(page: Path) -> _Links:
    links = _Links()
    links.feed(page.read_text())
    return links


def test_internal_links_resolve(site: Path) -> None:
    """Every link from one page of the site to another (and to an anchor in it) lands."""
    parsed = {page: _parse(page) for page in site.rglob("*.html")}
    broken = []
    for page, links in parsed.items():
        for href in links.hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith("mailto:"):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {href}")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {href} (no such anchor)")
    assert broken == []


def test_site_loads_nothing_from_the_network(site: Path) -> None:
    """Scripts, styles and fonts of every page come from the site itself."""
    remote = []
    for page in site.rglob("*.html"):
        text = page.read_text()
        for url in re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?://[^"]+)"', text):
            remote.append(f"{page.relative_to(site)}: {url}")
    assert remote == []


@needs_chromium
def test_search_finds_run_local(site: Path, tmp_path: Path) -> None:
    """Typing run_local in the search box lists its entry on the API page."""
    dom = chromium(
        [
            "--virtual-time-budget=15000",
            "--dump-dom",
            (site / "search.html").as_uri() + "?q=run_local",
        ],
        tmp_path,
    )
    assert 'href="reference/api.html#psweep.run_local"' in dom
    assert re.search(r"found \d+ pages? matching", dom)


@needs_chromium
def test_api_page_lists_the_public_names(site: Path, tmp_path: Path) -> None:
    """The API page, as the browser shows it, has an entry for every public name."""
    dom = chromium(["--dump-dom", (site / "reference" / "api.html").as_uri()], tmp_path)
    ids = set(re.findall(r'id="(psweep\.[^"]+)"', dom))
    assert {f"psweep.{n}" for n in PUBLIC} <= ids


def test_every_command_is_in_the_reference(site: Path) -> None:
    """The commands page has the usage line of every command of psweep.cli.commands."""
    from psweep.cli.commands import COMMANDS

    page = (site / "reference" / "cli.html").read_text()
    text = re.sub(r"<[^>]+>", "", page)
    missing = [name for name in COMMANDS if f"usage: {name} " not in html.unescape(text)]
    assert missing == []


def test_no_markup_left_unparsed(site: Path) -> None:
    """No page shows reStructuredText that failed to parse (docutils' "problematic" spans,
    which sphinx-argparse's help texts can make without a warning)."""
    bad = [
        str(p.relative_to(site))
        for p in site.rglob("*.html")
        if 'class="problematic"' in p.read_text()
    ]
    assert bad == []
