# tests/integration/transforms.mk: integration tests of the transforms area.
