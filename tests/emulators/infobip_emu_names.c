/* infobip_emu_names.c: infobip-emu refuses person names with the characters
 * Infobip's documentation forbids in them ("Do not use the following
 * characters in First name, Last name, Middle name, and Nickname fields"),
 * as a per-person 400100 detail like its other field checks. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "infobip_emu_names.h"

#include <stdio.h>
#include <string.h>

#define FORBIDDEN_IN_NAMES "&<>\"/\\:(){}=;#\n\r"

void ib_check_name_characters(const json_t *value, const char *property, json_t *details)
{
    const char *text = json_string_value(value);
    const char *bad;
    char message[160];

    if (!text || !(bad = strpbrk(text, FORBIDDEN_IN_NAMES)))
        return;
    if (*bad == '\n' || *bad == '\r')
        snprintf(message, sizeof(message), "must not contain line breaks");
    else
        snprintf(message, sizeof(message),
                 "must not contain '%c' (forbidden: & < > \" / \\ : ( ) { } = ; # and line "
                 "breaks)", *bad);
    json_array_append_new(details, json_pack("{s:s, s:s}", "property", property, "message",
                                             message));
}
