# plugins/ometria-sink/local.mk: build of the ometria-sink plugin (filled in with its code).
