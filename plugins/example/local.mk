# plugins/example/local.mk: build of the example plugin (filled in with its code).
