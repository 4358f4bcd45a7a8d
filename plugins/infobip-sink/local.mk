# plugins/infobip-sink/local.mk: build of the infobip-sink plugin (filled in with its code).
