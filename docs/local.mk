# docs/local.mk: man pages and notes shipped in the tarball.
dist_man_MANS += man/sluice.1 man/sluice.cfg.5
EXTRA_DIST += configuration.md plugin-authoring.md
