# pipelines/local.mk: pipeline files installed with sluice.
