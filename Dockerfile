# The csops image: the worker, the CLI (schedule install, inbox, decide...) and the
# codec server. docker-compose.yml runs it; `docker build -t csops .` alone works too.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Everything .dockerignore leaves: pyproject.toml, README.md and the packages it lists.
COPY . /app
RUN pip install /app \
    && useradd --create-home --uid 10001 csops \
    && mkdir -p /data \
    && chown csops /data

USER csops
# State that is not in a database (renewal packages, the retrieval index, a maildir).
WORKDIR /data
VOLUME ["/data"]
# csops counters and the Temporal SDK's metrics (CSOPS_METRICS_PORT, CSOPS_SDK_METRICS_PORT).
EXPOSE 9464 9465
ENTRYPOINT ["csops"]
CMD ["worker"]
