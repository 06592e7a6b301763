FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SIGNALDESK_HOST=0.0.0.0 SIGNALDESK_PORT=8000 \
    DATABASE_URL=sqlite+aiosqlite:////data/signaldesk.db
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY web ./web
COPY trading ./trading
COPY brokers ./brokers
COPY db ./db
RUN pip install --no-cache-dir . && mkdir -p /data && useradd --system signaldesk && chown signaldesk /data
USER signaldesk
VOLUME /data
EXPOSE 8000
STOPSIGNAL SIGTERM
CMD ["signaldesk", "serve"]
