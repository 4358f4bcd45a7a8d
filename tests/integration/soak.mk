# tests/integration/soak.mk: the webhook soak (issue 13): signed webhooks from
# webhook-load while kill -9 hits every stage and the supervisor; nothing
# answered 2xx may go missing (docs/testing.md, "Webhook soak").
SOAK_TESTS = integration/e2e-webhook-soak.sh integration/soak-intake.sh
TESTS += $(SOAK_TESTS)
EXTRA_DIST += $(SOAK_TESTS) integration/soak-lib.sh
