# The image of the worker, the dispatcher and the API (docker-compose.yml and the Helm chart run it).
#   podman build -t cdp-triggers .        (or docker build; './dev image' builds and checks it)
# BASE: python:3.11-slim-bookworm pinned by digest. A mirror, or any image with Python 3.11 on PATH as
# python3.11 and ensurepip, can stand in: --build-arg BASE=registry.example/python:3.11-slim@sha256:...
ARG BASE=docker.io/library/python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM ${BASE} AS build
# Marks this build's leftovers (the build stage, replaced images) for 'podman image prune --filter label=...'
LABEL io.cdp-triggers.built-by=dockerfile
# Behind a proxy that intercepts TLS: mount its CA bundle into the build and name it here.
ARG CA_BUNDLE=
ARG UV_VERSION=0.13.9
ENV UV_PROJECT_ENVIRONMENT=/opt/cdp-triggers \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1
RUN ${CA_BUNDLE:+env SSL_CERT_FILE=$CA_BUNDLE PIP_CERT=$CA_BUNDLE} sh -ec '\
    python3.11 -m venv /opt/uv; \
    /opt/uv/bin/pip install --quiet --no-cache-dir --disable-pip-version-check uv==${UV_VERSION}'
WORKDIR /src
# The dependencies first: their layer is reused while only the code changes.
COPY pyproject.toml uv.lock README.md ./
RUN ${CA_BUNDLE:+env SSL_CERT_FILE=$CA_BUNDLE} \
    /opt/uv/bin/uv sync --frozen --no-dev --no-install-project --no-editable --python python3.11
COPY streams ./streams
COPY schemas ./schemas
# Not editable: the environment holds the package itself, so /src is not needed at run time.
RUN ${CA_BUNDLE:+env SSL_CERT_FILE=$CA_BUNDLE} \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --python python3.11

FROM ${BASE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL io.cdp-triggers.built-by=dockerfile \
      org.opencontainers.image.title="cdp-triggers" \
      org.opencontainers.image.description="Trigger engine for customer-data platforms on Kafka" \
      org.opencontainers.image.source="https://github.com/cdp-triggers/cdp-triggers" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# Nothing to install with at run time; the data directory exists and belongs to the user the processes run as
# (a volume mounted there takes its ownership from the image, or from the pod's fsGroup).
RUN if python3.11 -m pip --version >/dev/null 2>&1; then \
        python3.11 -m pip uninstall --yes --quiet --disable-pip-version-check pip setuptools wheel; \
    fi \
    && install -d -o 65534 -g 65534 -m 0750 /var/lib/cdp-triggers
COPY --from=build /opt/cdp-triggers /opt/cdp-triggers
ENV PATH="/opt/cdp-triggers/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CDP_DATA_DIR=/var/lib/cdp-triggers \
    CDP_METRICS_HOST=0.0.0.0 \
    CDP_API_HOST=0.0.0.0
USER 65534:65534
ENTRYPOINT ["cdp-triggers"]
CMD ["worker"]
