# ForgeLens dashboard:
#   docker build -t forgelens .
#   docker run -p 8501:8501 -e FORGELENS_TOKEN=<secret> -v forgelens-runs:/data/runs forgelens
# Inside the container the app binds 0.0.0.0 (it must, to be reachable through -p), so it counts
# as served to a network: reading is open, launching sweeps needs FORGELENS_TOKEN (README,
# "Operating ForgeLens"). Base image pinned by digest: python:3.11.13-slim-bookworm as several
# public projects pin it (no registry was reachable when this was written: check it with
# `docker buildx imagetools inspect python:3.11.13-slim-bookworm`); bump tag and digest together.

# ---- build: install the runtime dependencies into a virtual environment ----------------------
FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1 AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY requirements.txt .
# Runtime only: the lines above "# development and tests" (no pytest, ruff, hadolint, playwright).
RUN sed '/^# development and tests/,$d' requirements.txt > runtime-requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install -r runtime-requirements.txt

# ---- runtime: the app and its environment, nothing else --------------------------------------
FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1 AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    FORGELENS_RUNS=/data/runs

WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY core ./core
COPY dashboard ./dashboard
COPY pages ./pages
COPY .streamlit ./.streamlit
COPY pyproject.toml README.md ./

RUN useradd --create-home --uid 10001 forgelens && mkdir -p /data/runs && chown -R forgelens /data/runs
USER 10001
VOLUME ["/data/runs"]

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status != 200)"]

CMD ["python", "-m", "dashboard.serve", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", "--browser.gatherUsageStats=false"]
