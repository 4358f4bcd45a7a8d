/* plugin_text.c: text helpers the plugins share (plugin_text.h). */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>

#include "plugin_text.h"

void text_format(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}
