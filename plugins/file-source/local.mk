# plugins/file-source/local.mk: build of the file-source plugin (filled in with its code).
