# tests/integration/annexcloud.mk: integration tests of the annexcloud area
# (annexcloud-source against annexcloud-emu, real processes).
ANNEXCLOUD_INTEGRATION_TESTS = integration/test_annexcloud_api.sh \
	integration/test_annexcloud_feed.sh integration/test_annexcloud_feed_csv.sh \
	integration/test_annexcloud_webhook.sh \
	integration/test_annexcloud_feed_remote.sh \
	integration/test_annexcloud_webhook_intake.sh \
	integration/test_annexcloud_webhook_slowloris.sh \
	integration/test_annexcloud_webhook_disk_full.sh \
	integration/test_annexcloud_webhook_backlog.sh \
	integration/test_annexcloud_webhook_idle.sh \
	integration/test_annexcloud_arc.sh integration/test_annexcloud_sizing.sh \
	integration/test_annexcloud_pace.sh
TESTS += $(ANNEXCLOUD_INTEGRATION_TESTS)
EXTRA_DIST += $(ANNEXCLOUD_INTEGRATION_TESTS) integration/webhook_tool.py \
	integration/api-sync-lib.sh
