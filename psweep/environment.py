"""Every environment variable psweep, its study template and its tests read.

One table, :data:`ENVIRONMENT`, says what each variable does and who reads it;
the code that reads one takes its name from here, and the docs' reference of
environment variables is made from the table. A test checks that no other
``PSWEEP_*`` variable is read anywhere in the repository.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "CRASH_AT_ENV",
    "ENVIRONMENT",
    "PROGRESS_INTERVAL_ENV",
    "WHEEL_ENV",
    "EnvironmentVariable",
]


class EnvironmentVariable(NamedTuple):
    """One variable: who reads it (``library``, ``study`` or ``tests``) and what it does."""

    reader: str
    meaning: str


PROGRESS_INTERVAL_ENV = "PSWEEP_PROGRESS_INTERVAL_S"
WHEEL_ENV = "PSWEEP_WHEEL"
CRASH_AT_ENV = "PSWEEP_CRASH_AT"

ENVIRONMENT = {
    PROGRESS_INTERVAL_ENV: EnvironmentVariable(
        "library",
        "Seconds between two progress lines of a run without a terminal (a cluster job's "
        "log, CI); default 60. A value that is not a number > 0 is reported and ignored.",
    ),
    WHEEL_ENV: EnvironmentVariable(
        "library",
        "A wheel file of the running psweep, for psweep new and psweep update to keep in the "
        "study's vendor/ instead of building one; its version must be the running one.",
    ),
    CRASH_AT_ENV: EnvironmentVariable(
        "library",
        "For fault-injection tests only: the name of a crash point (psweep.crashpoints) at "
        "which a run kills its own process with SIGKILL. Never set it for real work.",
    ),
    "PSWEEP_NEW": EnvironmentVariable(
        "study",
        "Read by the study README's update recipe: the newer psweep to install, as a wheel "
        "file or a requirement such as 'psweep-kit @ git+URL@TAG'.",
    ),
    "PSWEEP_TEST_WORKERS": EnvironmentVariable(
        "tests", "Test processes of nox -s tests (default 3); 1 runs the suite in one process."
    ),
    "PSWEEP_CONTAINER_TESTS": EnvironmentVariable(
        "tests", "Set by nox -s container: run the podman image tests (otherwise skipped)."
    ),
    "PSWEEP_CONTAINER_CACHE": EnvironmentVariable(
        "tests", "A folder where the container tests keep their offline base image between runs."
    ),
    "PSWEEP_SLURM_DIR": EnvironmentVariable(
        "tests",
        "The state folder (absolute) of the one-node SLURM cluster of scripts/slurm-local.sh "
        "(default /tmp/psweep-slurm).",
    ),
    "PSWEEP_SLURM_TIMEOUT_S": EnvironmentVariable(
        "tests", "Seconds scripts/slurm-local.sh waits for the cluster to start (default 30)."
    ),
    "PSWEEP_SOAK": EnvironmentVariable(
        "tests", "Set by nox -s soak: the model-based test runs many more and longer sequences."
    ),
    "PSWEEP_MODEL_EXAMPLES": EnvironmentVariable(
        "tests", "Sequences the model-based test of a study's life tries."
    ),
    "PSWEEP_MODEL_STEPS": EnvironmentVariable(
        "tests", "Steps per sequence of the model-based test."
    ),
    "PSWEEP_MODEL_STRICT": EnvironmentVariable(
        "tests",
        "1: the model-based test ignores its list of known failures (tests/test_study_model.py).",
    ),
    "PSWEEP_MODEL_TRACE": EnvironmentVariable(
        "tests", "1: print the steps each example of the model-based test took."
    ),
    "PSWEEP_DOCS_HTML": EnvironmentVariable(
        "tests",
        "Set by nox -s docs: the site it built, which tests/test_docs_site.py checks instead "
        "of building its own.",
    ),
    "PSWEEP_COMPAT_DIR": EnvironmentVariable(
        "tests",
        "The folder of upstream psweep's test suites (default: ../shared/compat beside the "
        "clone) for scripts/check-upstream-suites.sh.",
    ),
}
