# porthub port hub: one container per port. Mount the configuration, keys and certificates
# read-only at /etc/porthub and a volume for the store at /var/lib/porthub.
FROM python:3.11-slim-bookworm

RUN useradd --system --uid 10001 --home-dir /var/lib/porthub --shell /usr/sbin/nologin porthub \
    && mkdir -p /var/lib/porthub /etc/porthub \
    && chown 10001:10001 /var/lib/porthub

WORKDIR /src
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY adapters ./adapters
RUN pip install --no-cache-dir . && rm -rf /src

USER 10001:10001
WORKDIR /var/lib/porthub
VOLUME ["/var/lib/porthub"]
EXPOSE 9464
# The HTTP listener must listen beyond loopback inside a container (http.listen: 0.0.0.0:9464)
# for this check and for Prometheus to reach it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9464/readyz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["porthub"]
CMD ["run", "-c", "/etc/porthub/porthub.yaml"]
