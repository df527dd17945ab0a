# socketsvc's image, and the base of an app's image: `docker build -t socketsvc .`
#
# On its own it serves the embedded defaults (the /chat namespace and its page), as
# docker-compose.yml runs it. An app puts its handler modules and app.toml in /app, either
# built in (`socketsvc new` writes this Dockerfile):
#     FROM socketsvc
#     COPY --chown=socketsvc . /app/
#     ENV SOCKETSVC_CONFIG=/app/app.toml
# or mounted at run time (docker-compose.yml: SOCKETSVC_APP):
#     docker run -v "$PWD:/app:ro" -e SOCKETSVC_CONFIG=/app/app.toml -p 8000:8000 socketsvc
# Handler modules are imported from the config file's directory. Extra Python packages go
# into the image's environment (/opt/socketsvc, on PATH) as root: `pip install -r ...`.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/socketsvc \
    PATH=/opt/socketsvc/bin:$PATH

# socketsvc installed as a dependency, as apps install it; its sources are not kept.
COPY pyproject.toml README.md /src/
COPY socketsvc /src/socketsvc
RUN python -m venv /opt/socketsvc \
    && pip install /src \
    && rm -rf /src \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin socketsvc \
    && mkdir /app && chown socketsvc /app

WORKDIR /app
USER socketsvc
ENV SOCKETSVC_HOST=0.0.0.0 \
    SOCKETSVC_PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]

# SIGTERM: close clients (they reconnect to another node), stop the Redis tasks, exit.
STOPSIGNAL SIGTERM
CMD ["socketsvc", "serve"]
