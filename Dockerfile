# extctl controller image. Build: docker build -t extctl:dev .
# The image carries the pinned official helm v4 binary (sha256-verified by scripts/install_tools.py).
FROM python:3.11-slim AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml constraints.txt README.md ./
COPY controller ./controller
COPY sandbox ./sandbox
COPY schemas ./schemas
COPY scripts/install_tools.py ./scripts/install_tools.py
RUN python -m venv /opt/extctl \
 && /opt/extctl/bin/pip install --no-cache-dir -c constraints.txt . \
 && EXTCTL_TOOLS_DIR=/opt/tools /opt/extctl/bin/python scripts/install_tools.py

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --create-home extctl
COPY --from=build /opt/extctl /opt/extctl
COPY --from=build /opt/tools/bin/helm /usr/local/bin/helm
COPY --from=build /src/schemas /opt/extctl/schemas
ENV PATH=/opt/extctl/bin:$PATH \
    HELM_BIN=/usr/local/bin/helm \
    EXTCTL_CACHE_DIR=/var/cache/extctl \
    EXTCTL_SCHEMAS_DIR=/opt/extctl/schemas \
    HELM_CACHE_HOME=/var/cache/extctl/helm \
    HELM_CONFIG_HOME=/tmp/helm/config \
    HELM_DATA_HOME=/tmp/helm/data \
    PYTHONUNBUFFERED=1
USER 65532
ENTRYPOINT ["extctl"]
CMD ["run", "--help"]
