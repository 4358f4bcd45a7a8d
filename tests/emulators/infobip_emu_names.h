/* infobip_emu_names.h: infobip-emu's check of the characters Infobip refuses
 * in person names (infobip_emu_names.c). */
#ifndef INFOBIP_EMU_NAMES_H
#define INFOBIP_EMU_NAMES_H

#include <jansson.h>

/* When `value` (borrowed; NULL, null or a non-string are left to the other
 * checks) holds a character Infobip's documentation forbids in first,
 * last, middle and nick names (& < > " / \ : ( ) { } = ; # or a line
 * break), appends {"property": property, "message": ...} to details. */
void ib_check_name_characters(const json_t *value, const char *property, json_t *details);
#endif
