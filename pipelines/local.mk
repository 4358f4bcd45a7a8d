# pipelines/local.mk: pipeline files installed with sluice.
# transforms: default destination mappings, @include'd by per-client pipelines.
transforms_mappingsdir = $(pkgdatadir)/mappings
dist_transforms_mappings_DATA = mappings/ometria.cfg mappings/infobip.cfg mappings/infobip-schema.cfg
# lead: per-client pipelines (examples) and their fragments.
dist_examples_DATA += acme-ometria-webhook.cfg acme-ometria-api.cfg acme-infobip-webhook.cfg \
	acme-infobip-api.cfg globex-ometria.cfg globex-infobip.cfg
fragmentsdir = $(pkgdatadir)/fragments
dist_fragments_DATA = fragments/annexcloud-api.cfg fragments/annexcloud-webhook.cfg fragments/deriver.cfg
dist_examples_DATA += README.md
