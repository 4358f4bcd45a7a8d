# plugins/set-field/local.mk: build of the set-field plugin (filled in with its code).
