# ForgeLens dashboard: docker build -t forgelens . && docker run -p 8501:8501 -v forgelens-runs:/data/runs forgelens
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FORGELENS_RUNS=/data/runs

WORKDIR /app

# Dependencies in their own layer, so code changes do not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY core ./core
COPY dashboard ./dashboard
COPY pages ./pages
COPY pyproject.toml README.md ./

RUN useradd --create-home --uid 10001 forgelens && mkdir -p /data/runs && chown -R forgelens /data/runs
USER 10001
VOLUME ["/data/runs"]

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status != 200)"]

CMD ["python", "-m", "streamlit", "run", "dashboard/app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", "--browser.gatherUsageStats=false"]
