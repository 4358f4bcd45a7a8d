# pipelines/local.mk: pipeline files installed with sluice.
# transforms: default destination mappings, @include'd by per-client pipelines.
transforms_mappingsdir = $(pipelinesdir)/mappings
dist_transforms_mappings_DATA = mappings/ometria.cfg mappings/infobip.cfg
