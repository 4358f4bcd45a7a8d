/* plugin_text.h: text helpers the plugins share, one owner each.
 * Implemented in plugin_text.c, linked into the plugins that use it
 * through the convenience library libplugin-common.la. */
#ifndef SLUICE_PLUGIN_TEXT_H
#define SLUICE_PLUGIN_TEXT_H

#include <stddef.h>

/* snprintf into buf (len > 0 bytes): a message, truncated to fit, always
 * NUL-terminated. For reasons and errors written into caller buffers. */
void text_format(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#endif
