# plugins/tier-event-deriver/local.mk: build of the tier-event-deriver plugin (filled in with its code).
