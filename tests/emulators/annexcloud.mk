# tests/emulators/annexcloud.mk: build and tests of the annexcloud emulator part.
