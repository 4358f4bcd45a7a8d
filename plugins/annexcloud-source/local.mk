# plugins/annexcloud-source/local.mk: build of the annexcloud-source plugin (filled in with its code).
