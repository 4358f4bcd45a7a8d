# tests/emulators/ometria.mk: build and tests of the ometria emulator part.
