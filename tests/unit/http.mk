# tests/unit/http.mk: unit tests of the http area.
