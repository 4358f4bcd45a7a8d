/* annexcloud_delta.c: annexcloud-emu's --webhook-payload delta: webhooks that
 * carry a partial member (the profile fields that changed since the
 * member's last announcement, with the loyalty data in full), so tests see
 * destinations updated from deltas that must not blank what they lack. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include <string.h>

#include "annexcloud_emu.h"

/* Profile keys every delta keeps: they name the member. */
static bool identifying_key(const char *key)
{
    return strcmp(key, "id") == 0 || strcmp(key, "siteId") == 0 || strcmp(key, "email") == 0;
}

json_t *annex_delta_start(const annex_model *model)
{
    json_t *members = annex_model_members(model);
    json_t *users = json_object();
    const char *id;
    json_t *record;

    if (!members || !users) {
        json_decref(members);
        json_decref(users);
        return NULL;
    }
    json_object_foreach(members, id, record) {
        json_t *user = annex_model_user(model, id, false);
        if (!user || json_object_set_new(users, id, user) != 0) {
            json_decref(users);
            users = NULL;
            break;
        }
    }
    json_decref(members);
    return users;
}

json_t *annex_delta_data(json_t *announced, const annex_model *model, const char *member_id,
                         bool remember)
{
    json_t *data = annex_model_webhook_data(model, member_id, true);
    json_t *user = annex_model_user(model, member_id, false);
    const json_t *before = json_object_get(announced, member_id);
    const char *key;
    json_t *value;
    void *tmp;

    if (!data || !user) {
        json_decref(data);
        json_decref(user);
        return NULL;
    }
    json_object_foreach_safe(user, tmp, key, value) {
        const json_t *old = json_object_get(before, key);
        if (!identifying_key(key) && old && json_equal(old, value))
            json_object_del(data, key);
    }
    if (remember)
        json_object_set_new(announced, member_id, user);
    else
        json_decref(user);
    return data;
}
