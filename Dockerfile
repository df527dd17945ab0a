# socketsvc node image: `docker build -t socketsvc .` then `docker run -p 8000:8000 socketsvc`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SOCKETSVC_HOST=0.0.0.0 \
    SOCKETSVC_PORT=8000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY socketsvc ./socketsvc
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --no-create-home socketsvc

USER socketsvc
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
STOPSIGNAL SIGTERM
CMD ["python", "-m", "socketsvc", "serve"]
