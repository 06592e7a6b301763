# signaldesk: `docker build -t signaldesk .` then see docs/deployment.md.
# Two stages: the builder installs the package and its dependencies into a virtualenv;
# the final image holds that virtualenv (the app is installed inside it) and nothing else
# from the build, runs as a non-root user, and keeps its SQLite file on the /data volume.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY web ./web
COPY trading ./trading
COPY brokers ./brokers
COPY db ./db
# A regular (non-editable) install: the package, its migrations and the `signaldesk` script
# all land in /opt/venv, so /src is not needed at run time.
RUN pip install --upgrade pip && pip install . && pip check

FROM python:3.11-slim
LABEL org.opencontainers.image.title="signaldesk" \
      org.opencontainers.image.description="TradingView alerts to broker orders, on Discord"
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin signaldesk \
    && mkdir -p /data && chown signaldesk:signaldesk /data && chmod 700 /data
COPY --from=builder /opt/venv /opt/venv
# SQLite by default (a file on the volume); compose sets DATABASE_URL to PostgreSQL instead.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SIGNALDESK_HOST=0.0.0.0 \
    SIGNALDESK_PORT=8000 \
    DATABASE_URL=sqlite+aiosqlite:////data/signaldesk.db
WORKDIR /data
USER signaldesk
VOLUME ["/data"]
EXPOSE 8000
# /health answers 200 when the database, the brokers of active bots and Discord (when
# configured) are up, 503 otherwise; urlopen raises on a 503, so the probe exits 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('SIGNALDESK_PORT', '8000'), timeout=4)"]
# SIGTERM: new webhooks get 503, the signal in hand finishes (docker stop -t 45, or compose's stop_grace_period).
STOPSIGNAL SIGTERM
# Migrations run at start-up: `serve` brings the schema up to date before it listens.
CMD ["signaldesk", "serve"]
