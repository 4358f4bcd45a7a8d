/* log.h: process-wide logging. Every line names the pipeline and stage;
 * human format on a TTY, one JSON object per line otherwise; secrets
 * registered with sluice_log_add_secret are replaced by ********. */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdarg.h>
#include "sluice/plugin.h"

typedef enum { SLUICE_LOG_FORMAT_AUTO, SLUICE_LOG_FORMAT_TEXT, SLUICE_LOG_FORMAT_JSON } sluice_log_format;

/* Configure the threshold and format (default INFO, AUTO on stderr). */
void sluice_log_setup(sluice_log_level level, sluice_log_format format);

/* Parse "error|warn|info|debug"; returns 0 or -1. */
int sluice_log_level_parse(const char *text, sluice_log_level *out);

/* Register a secret value to mask in every later line (copied). Empty or
 * very short (< 4 bytes) values are ignored to keep lines readable. There
 * is no limit on the number of secrets; one that cannot be stored (out of
 * memory) is dropped. */
void sluice_log_add_secret(const char *value);

/* Name the pipeline and stage (either may be NULL) that lines of this
 * process come from when their caller names neither, as the state store
 * does: a stage process sets its pipeline and stage label, a pipeline's
 * supervisor its pipeline. Copied. */
void sluice_log_set_origin(const char *pipeline, const char *stage);

/* Write one line. pipeline/stage may be NULL (engine messages). The whole
 * message is masked, then cut to 4,095 bytes at a UTF-8 boundary. */
void sluice_log_write(const char *pipeline, const char *stage, sluice_log_level level,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void sluice_log_vwrite(const char *pipeline, const char *stage, sluice_log_level level,
                       const char *fmt, va_list ap);

/* Copy `text` into buf with every registered secret replaced by ********
 * (a run of bytes covered by overlapping secrets becomes one ********),
 * cut to fit at a UTF-8 boundary after masking. Always NUL-terminates
 * (buflen > 0); returns buf. */
char *sluice_log_mask(const char *text, char *buf, size_t buflen);
/* The last message this process logged at error (masked, cut to
 * `buflen`; "" when none) into buf. Returns when it was logged (wall
 * clock seconds), 0 when none was. Read by the stage runners for their
 * statistics file, which the admin endpoint shows as a stage's last
 * error. */
double sluice_log_last_error(char *buf, size_t buflen);
#endif
