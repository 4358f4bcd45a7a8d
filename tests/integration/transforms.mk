# tests/integration/transforms.mk: integration tests of the transforms area
# (tier-event-deriver and field-mapper in real pipelines against the truth).
TRANSFORMS_INTEGRATION_TESTS = integration/test_transforms_pipeline.sh \
	integration/test_transforms_kill.sh
TESTS += $(TRANSFORMS_INTEGRATION_TESTS)
EXTRA_DIST += $(TRANSFORMS_INTEGRATION_TESTS) integration/test_transforms_lib.sh
