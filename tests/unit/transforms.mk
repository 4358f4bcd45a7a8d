# tests/unit/transforms.mk: unit tests of the transforms area.
