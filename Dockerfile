# fleet: one image for the Locust master, its workers and the embedded reference CSMS.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/fleet

# Dependencies first, so editing scenarios or code does not reinstall them.
COPY pyproject.toml README.md ./
COPY fleet ./fleet
RUN pip install . && useradd --create-home --uid 10001 fleet

COPY scenarios /scenarios
# Arguments that start with an option run `fleet locust` (the Locust Kubernetes operator passes
# only arguments); anything else is a command (`fleet locust ...`, `fleet csms ...`).
COPY deploy/docker-entrypoint.sh /usr/local/bin/fleet-entrypoint
USER fleet
# 8089: Locust web UI; 5557: master <- workers; 9000: embedded CSMS; 9646: fleet's /metrics.
EXPOSE 8089 5557 9000 9646
ENTRYPOINT ["fleet-entrypoint"]
CMD ["fleet", "--help"]
