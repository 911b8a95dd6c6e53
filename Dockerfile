# lookoutvision-emulator: the Amazon Lookout for Vision API on port 5055, state in the /data volume.
#   docker build -t lookoutvision-emulator .
#   docker run -p 5055:5055 -v lfv-data:/data lookoutvision-emulator
#   (add `lookoutvision-emulator serve --host 0.0.0.0 --demo` to host the demo models)
# It listens on 0.0.0.0 in the container, so anyone who reaches a published port can call it. Publish on
# loopback only (-p 127.0.0.1:5055:5055), or, when the port is reachable beyond localhost, require SigV4
# signatures from your clients' key:
#   docker run -p 5055:5055 -v lfv-data:/data -e LOOKOUTVISION_EMULATOR_AUTH=sigv4 \
#       -e AWS_ACCESS_KEY_ID=... -e AWS_SECRET_ACCESS_KEY=... lookoutvision-emulator
#   (several keys: -e LOOKOUTVISION_EMULATOR_CREDENTIALS_FILE=/path/in/the/container, KEY:SECRET a line)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LOOKOUTVISION_EMULATOR_DATA_DIR=/data

WORKDIR /opt/lookoutvision-emulator
COPY pyproject.toml README.md ./
COPY server ./server
COPY lookoutvision_emulator ./lookoutvision_emulator
# A normal (non-editable) install, with the PostgreSQL driver for replicas (compose.yaml): the demo
# bundles come as package data, and `lookoutvision_emulator`
# (clients, the pytest plugin) is importable in the image.
RUN pip install '.[postgresql]' \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin emulator \
    && mkdir -p /data && chown emulator /data

USER emulator
VOLUME ["/data"]
EXPOSE 5055

HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:5055/_emulator/health', timeout=2).status == 200 else 1)"]

CMD ["lookoutvision-emulator", "serve", "--host", "0.0.0.0", "--port", "5055"]
