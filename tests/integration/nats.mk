# tests/integration/nats.mk: nats-sink and nats-source against a real
# nats-server (skips without it or without libnats).
TESTS += integration/nats.sh
EXTRA_DIST += integration/nats.sh
