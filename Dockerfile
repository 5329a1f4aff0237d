# psweep in a container: the same study runs here as on the host.
#
#   docker build -t psweep .                     (or: podman build -t psweep .)
#   docker run --rm -v "$PWD:/study" -u "$(id -u):$(id -g)" psweep python input.py
#
# BASE can be any Debian-like image with python3 (and venv); where no registry
# is reachable, build a base locally and pass --build-arg BASE=localhost/base.
# A folder wheelhouse/ in the build context (pip wheel -w wheelhouse ...) makes
# the build work offline: pip then installs from it only.
ARG BASE=python:3.12-slim

FROM ${BASE} AS build
WORKDIR /src
COPY . /src
RUN set -eu; \
    mkdir -p /src/wheelhouse; \
    if [ -n "$(ls /src/wheelhouse)" ]; then set -- --no-index --find-links /src/wheelhouse; fi; \
    python3 -m venv /opt/build; \
    /opt/build/bin/pip install --no-cache-dir "$@" hatchling; \
    /opt/build/bin/pip wheel --no-cache-dir "$@" --no-deps --no-build-isolation -w /dist /src

FROM ${BASE} AS runtime
# git and git-lfs for studies run with git=True; installed only if the base lacks them
# hadolint ignore=DL3008
RUN if ! command -v git >/dev/null || ! command -v git-lfs >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends git git-lfs \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=build /dist /dist
COPY --from=build /src/wheelhouse /wheels
RUN set -eu; \
    if [ -n "$(ls /wheels)" ]; then set -- --no-index --find-links /wheels; fi; \
    python3 -m venv /opt/psweep; \
    /opt/psweep/bin/pip install --no-cache-dir "$@" /dist/*.whl; \
    useradd --create-home --uid 1000 study
ENV PATH=/opt/psweep/bin:$PATH \
    DVC_NO_ANALYTICS=1 \
    PYTHONUNBUFFERED=1
WORKDIR /study
USER 1000
CMD ["python", "-c", "import psweep; print('psweep', psweep.__version__, '- mount a study at /study')"]

# the development image of .devcontainer: the test tools on top
FROM runtime AS dev
USER 0
RUN set -eu; \
    if [ -n "$(ls /wheels)" ]; then set -- --no-index --find-links /wheels; fi; \
    whl=$(ls /dist/*.whl); \
    /opt/psweep/bin/pip install --no-cache-dir "$@" "${whl}[test]" ruff
USER 1000
