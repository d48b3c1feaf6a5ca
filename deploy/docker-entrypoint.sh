#!/bin/sh
# The image's entry point. Options first (`--master ...`, `--worker --master-host ...`: what the
# Locust Kubernetes operator passes, arguments only) run Locust with fleet's locustfile; anything
# else is a command (`fleet locust ...`, `fleet csms ...`, as docker-compose.yml runs them).
set -e
case "${1:-}" in
    -*) exec fleet locust "$@" ;;
esac
exec "$@"
