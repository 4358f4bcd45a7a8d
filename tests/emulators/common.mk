# tests/emulators/common.mk: build and tests of the common emulator part.
