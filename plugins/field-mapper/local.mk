# plugins/field-mapper/local.mk: build of the field-mapper plugin (filled in with its code).
