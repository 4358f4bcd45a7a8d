/* nats_subject.h: nats-sink's subject template ("sluice.{client}.members"):
 * checking it, expanding it for a record, and the stream-subject pattern
 * it covers. Pure functions, unit-tested in tests/unit/test_nats_subject. */
#ifndef SLUICE_NATS_SUBJECT_H
#define SLUICE_NATS_SUBJECT_H

#include <stddef.h>
#include <jansson.h>

/* Check `tmpl`: dot-separated tokens, none empty, with no spaces, '*' or
 * '>' (a subject published to is literal), and every '{' closed by a '}'
 * around a field name. Returns 0, or -1 with a message in err. */
int nats_subject_check(const char *tmpl, char *err, size_t err_size);

/* Expand `tmpl` for `record` into out[out_size]: {client} is `client`
 * when not NULL, else the record's "client" field; {NAME} is the record's
 * top-level field NAME, a string or an integer. A value must be one
 * subject token (not empty; no '.', spaces, '*' or '>'). Returns 0, or -1
 * with err saying which field is missing or unusable (the record's fault:
 * it goes to the dead-letter queue) or that the subject is too long. */
int nats_subject_expand(const char *tmpl, const json_t *record, const char *client,
                        char *out, size_t out_size, char *err, size_t err_size);

/* The subject pattern `tmpl` publishes under, for a stream's subjects:
 * each token holding a {..} as the wildcard '*' ("sluice.*.members"). Returns 0, or -1 when
 * out_size is too small. */
int nats_subject_pattern(const char *tmpl, char *out, size_t out_size);

#endif /* SLUICE_NATS_SUBJECT_H */
