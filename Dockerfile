# The worker image used by docker-compose.yml.
FROM python:3.11-slim
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY streams ./streams
COPY schemas ./schemas
COPY devtools ./devtools
RUN uv sync --frozen --no-dev
ENV PATH="/app/.venv/bin:$PATH" \
    CDP_METRICS_HOST=0.0.0.0 \
    CDP_DATA_DIR=/var/lib/cdp-triggers
USER nobody
ENTRYPOINT ["cdp-triggers"]
CMD ["worker"]
