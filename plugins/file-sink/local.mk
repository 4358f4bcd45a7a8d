# plugins/file-sink/local.mk: build of the file-sink plugin (filled in with its code).
