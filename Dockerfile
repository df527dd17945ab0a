# socketsvc node image: `docker build -t socketsvc .`, run by docker-compose.yml.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml ./
COPY socketsvc ./socketsvc
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin socketsvc

USER socketsvc
ENV SOCKETSVC_HOST=0.0.0.0 \
    SOCKETSVC_PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]

# SIGTERM: close clients (they reconnect to another node), stop the Redis tasks, exit.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "socketsvc", "serve"]
