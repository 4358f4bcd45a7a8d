# tests/integration/sdk.mk: integration tests of the sdk area.
