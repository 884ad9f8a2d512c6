# porthub port hub: one container per port. Mount the configuration, keys and certificates
# read-only at /etc/porthub and a volume for the store at /var/lib/porthub.
FROM python:3.11-slim-bookworm

RUN useradd --system --home-dir /var/lib/porthub --shell /usr/sbin/nologin porthub \
    && mkdir -p /var/lib/porthub /etc/porthub \
    && chown porthub:porthub /var/lib/porthub

WORKDIR /src
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY adapters ./adapters
RUN pip install --no-cache-dir . && rm -rf /src

USER porthub
WORKDIR /var/lib/porthub
VOLUME ["/var/lib/porthub"]
ENTRYPOINT ["porthub"]
CMD ["run", "-c", "/etc/porthub/porthub.yaml"]
