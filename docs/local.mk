# docs/local.mk: man pages and notes shipped in the tarball; the notes an
# operator and a plugin author need are installed into $(docdir).
dist_man_MANS += man/sluice.1 man/sluice.cfg.5
EXTRA_DIST += architecture.md configuration.md plugin-authoring.md loyalty-schema.md \
	state-store.md http-client.md testing.md loyaltygen.md mappings.md \
	annexcloud-source.md field-mapper.md tier-event-deriver.md ometria-sink.md \
	infobip-sink.md benchmarks.md erasure.md nats.md
dist_doc_DATA = architecture.md configuration.md operations.md plugin-authoring.md
