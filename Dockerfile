# fleet: one image for the Locust master, its workers and the embedded reference CSMS.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/fleet

# Dependencies first, so editing scenarios or code does not reinstall them.
COPY pyproject.toml README.md ./
COPY fleet ./fleet
RUN pip install . && useradd --create-home --uid 10001 fleet

COPY scenarios /scenarios
USER fleet
# 8089: Locust web UI; 5557: master <- workers; 9000: embedded CSMS.
EXPOSE 8089 5557 9000
CMD ["fleet", "--help"]
