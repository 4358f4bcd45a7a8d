# tests/emulators/infobip.mk: build and tests of the infobip emulator part.
