# docs/local.mk: man pages and notes shipped in the tarball.
