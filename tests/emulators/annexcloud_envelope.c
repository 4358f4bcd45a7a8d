/* annexcloud_envelope.c: the webhook Annex Cloud posts for one change (envelope and signature), shared by annexcloud-emu's sender and webhook-load. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "annexcloud_emu.h"

char *annex_webhook_body(const annex_model *model, const json_t *change, const char *member_id,
                         const char *site_id, bool full, const char *event_id)
{
    return annex_webhook_wrap(change, site_id, event_id,
                              annex_model_webhook_data(model, member_id, full));
}

char *annex_webhook_wrap(const json_t *change, const char *site_id, const char *event_id,
                         json_t *data)
{
    char timestamp[40];
    time_t at = 0;
    const char *event_type = json_string_value(json_object_get(change, "type"));
    json_t *envelope = NULL;
    char *body = NULL;

    if (!data)
        goto out;
    annex_time_parse(json_string_value(json_object_get(change, "at")), &at);
    envelope = json_pack("{s:s,s:s,s:s,s:s,s:O}", "eventId", event_id, "eventType",
                         event_type ? event_type : "USER_UPDATE", "siteId", site_id, "timestamp",
                         annex_time_format(at, timestamp, sizeof timestamp), "data", data);
    if (envelope)
        body = json_dumps(envelope, JSON_COMPACT);
out:
    json_decref(envelope);
    json_decref(data);
    return body;
}

void annex_webhook_signature(const char *secret, const char *body, size_t body_len, char *out,
                             size_t out_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t used = (size_t)snprintf(out, out_len, "sha256=");

    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, body_len, mac,
         &mac_len);
    for (unsigned int i = 0; i < mac_len && used + 3 <= out_len; i++)
        used += (size_t)snprintf(out + used, out_len - used, "%02x", mac[i]);
}
