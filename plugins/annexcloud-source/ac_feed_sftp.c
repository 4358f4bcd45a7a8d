/* ac_feed_sftp.c: feed mode's sftp:// locations (libcurl over libssh2):
 * the directory listing with CURLOPT_DIRLISTONLY, public-key (or
 * password) auth, the host key checked against a known_hosts file,
 * unknown hosts refused, and the verdict of a transfer. The shared part
 * (open, list, fetch) is ac_feed_remote.c. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ac_feed_transport.h"
#include "util/dynbuf.h"

/* 1 if path is set and this process can read it. */
static int readable(const char *path)
{
    return path && access(path, R_OK) == 0;
}

/* ac_sftp_open: see ac_feed_transport.h. */
int ac_sftp_open(ac_feed_remote *remote, const ac_feed_remote_options *options, char *err, size_t errlen)
{
    const char *url = options->location, *authority = url + 7;
    size_t authority_len = strcspn(authority, "/");
    const char *at = memchr(authority, '@', authority_len);
    const char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
    const char *home = getenv("HOME");
    int failed = 0;

    if (!at || at == authority) {
        snprintf(err, errlen, "feed location sftp://%.*s...: no user (write sftp://USER@HOST[:PORT]/PATH/)",
                 (int)authority_len, authority);
        return -1;
    }
    if (authority[authority_len] != '/' || at + 1 == authority + authority_len) {
        snprintf(err, errlen, "feed location must be sftp://USER@HOST[:PORT]/PATH/ (no host or path)");
        return -1;
    }
    /* The name for messages leaves out a password written into the URL. */
    {
        size_t user_len = colon ? (size_t)(colon - authority) : (size_t)(at - authority);
        size_t rest_len = strlen(at);
        remote->name = malloc(7 + user_len + rest_len + 2);
        if (!remote->name)
            return -1;
        memcpy(remote->name, "sftp://", 7);
        memcpy(remote->name + 7, authority, user_len);
        memcpy(remote->name + 7 + user_len, at, rest_len + 1);
    }
    remote->base_url = url[strlen(url) - 1] == '/' ? strdup(url) : ac_feed_concat(url, "/", NULL, NULL);
    if (remote->base_url && remote->name[strlen(remote->name) - 1] != '/') {
        char *with_slash = ac_feed_concat(remote->name, "/", NULL, NULL);
        free(remote->name);
        remote->name = with_slash;
    }
    if (!remote->base_url || !remote->name)
        return -1;
    remote->ssh_key = ac_feed_copy_optional(options->ssh_key, &failed);
    remote->ssh_key_passphrase = ac_feed_copy_optional(options->ssh_key_passphrase, &failed);
    remote->password = ac_feed_copy_optional(options->password, &failed);
    if (options->known_hosts && *options->known_hosts)
        remote->known_hosts = strdup(options->known_hosts);
    else if (home && *home)
        remote->known_hosts = ac_feed_concat(home, "/.ssh/known_hosts", NULL, NULL);
    if (failed || (!remote->known_hosts && home && *home))
        return -1;
    if (!remote->ssh_key && !remote->password && !colon) {
        snprintf(err, errlen, "%s: set feed_ssh_key (private key file) or feed_password", remote->name);
        return -1;
    }
    if (remote->ssh_key && !readable(remote->ssh_key)) {
        snprintf(err, errlen, "%s: feed_ssh_key '%s' cannot be read: %s", remote->name, remote->ssh_key,
                 strerror(errno));
        return -1;
    }
    if (!readable(remote->known_hosts)) {
        snprintf(err, errlen, "%s: known_hosts file '%s' cannot be read (set feed_known_hosts; unknown hosts are refused)",
                 remote->name, remote->known_hosts ? remote->known_hosts : "~/.ssh/known_hosts");
        return -1;
    }
    return 0;
}

/* libcurl's host key verdict: accept only a key that matches known_hosts;
 * remember why a key was refused for the message. */
static int check_host_key(CURL *easy, const struct curl_khkey *known_key, const struct curl_khkey *found_key,
                          enum curl_khmatch match, void *user)
{
    ac_feed_remote *remote = user;

    (void)easy;
    (void)known_key;
    (void)found_key;
    remote->host_key_match = (int)match;
    return match == CURLKHMATCH_OK ? CURLKHSTAT_FINE : CURLKHSTAT_REJECT;
}

/* ac_sftp_prepare: see ac_feed_transport.h. */
void ac_sftp_prepare(ac_feed_remote *remote)
{
    CURL *curl = remote->curl;

    curl_easy_setopt(curl, CURLOPT_SSH_KNOWNHOSTS, remote->known_hosts);
    curl_easy_setopt(curl, CURLOPT_SSH_KEYFUNCTION, check_host_key);
    curl_easy_setopt(curl, CURLOPT_SSH_KEYDATA, remote);
    if (remote->ssh_key) {
        curl_easy_setopt(curl, CURLOPT_SSH_AUTH_TYPES, (long)CURLSSH_AUTH_PUBLICKEY);
        curl_easy_setopt(curl, CURLOPT_SSH_PRIVATE_KEYFILE, remote->ssh_key);
        /* "": libssh2 derives the public key from the private one. */
        curl_easy_setopt(curl, CURLOPT_SSH_PUBLIC_KEYFILE, "");
        if (remote->ssh_key_passphrase)
            curl_easy_setopt(curl, CURLOPT_KEYPASSWD, remote->ssh_key_passphrase);
    } else {
        curl_easy_setopt(curl, CURLOPT_SSH_AUTH_TYPES, (long)(CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD));
        if (remote->password)
            curl_easy_setopt(curl, CURLOPT_PASSWORD, remote->password);
    }
}

/* ac_sftp_file_url: see ac_feed_transport.h. */
char *ac_sftp_file_url(ac_feed_remote *remote, const char *name)
{
    char *encoded = curl_easy_escape(remote->curl, name, 0);
    char *url = encoded ? ac_feed_concat(remote->base_url, encoded, NULL, NULL) : NULL;

    curl_free(encoded);
    return url;
}

/* ac_sftp_result: see ac_feed_transport.h. */
ac_remote_result ac_sftp_result(ac_feed_remote *remote, CURLcode code, const char *curl_error, const char *what,
                                char *err, size_t errlen)
{
    const char *detail = curl_error[0] ? curl_error : curl_easy_strerror(code);

    switch (code) {
    case CURLE_OK:
        return AC_REMOTE_OK;
    case CURLE_LOGIN_DENIED:
        snprintf(err, errlen, "%s: authentication refused (%s)", remote->name,
                 remote->ssh_key ? "check feed_ssh_key and its passphrase" : "check feed_password");
        return AC_REMOTE_FATAL;
    case CURLE_PEER_FAILED_VERIFICATION:
        if (remote->host_key_match == CURLKHMATCH_MISMATCH)
            snprintf(err, errlen, "%s: host key does not match the one in %s (refused: possible man in the middle)",
                     remote->name, remote->known_hosts);
        else
            snprintf(err, errlen, "%s: host is not in known_hosts %s (unknown hosts are refused)", remote->name,
                     remote->known_hosts);
        return AC_REMOTE_FATAL;
    case CURLE_REMOTE_FILE_NOT_FOUND:
        if (strcmp(what, "list") == 0) {
            snprintf(err, errlen, "%s: no such directory", remote->name);
            return AC_REMOTE_FATAL;
        }
        snprintf(err, errlen, "%s%s: no longer there", remote->name, what);
        return AC_REMOTE_GONE;
    case CURLE_REMOTE_ACCESS_DENIED:
        snprintf(err, errlen, "%s%s: permission denied", remote->name, strcmp(what, "list") == 0 ? "" : what);
        return AC_REMOTE_FATAL;
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(err, errlen, "%s: this libcurl has no sftp support (%s)", remote->name, detail);
        return AC_REMOTE_FATAL;
    default:
        snprintf(err, errlen, "%s: %s failed: %s", remote->name, strcmp(what, "list") == 0 ? "listing" : what,
                 detail);
        return AC_REMOTE_RETRY;
    }
}

/* ac_sftp_list: see ac_feed_transport.h. */
ac_remote_result ac_sftp_list(ac_feed_remote *remote, const char *pattern, char ***names, size_t *count,
                              char *err, size_t errlen)
{
    char curl_error[CURL_ERROR_SIZE];
    dynbuf listing;
    ac_remote_result result;
    CURLcode code;
    char *line, *next;

    dynbuf_init(&listing, AC_FEED_MAX_LISTING_BYTES);
    ac_feed_prepare(remote, remote->base_url, curl_error);
    curl_easy_setopt(remote->curl, CURLOPT_DIRLISTONLY, 1L);
    curl_easy_setopt(remote->curl, CURLOPT_WRITEFUNCTION, ac_feed_write_to_buffer);
    curl_easy_setopt(remote->curl, CURLOPT_WRITEDATA, &listing);
    code = curl_easy_perform(remote->curl);
    if (code == CURLE_WRITE_ERROR && listing.overflow) {
        snprintf(err, errlen, "%s: directory listing larger than %ld bytes", remote->name, AC_FEED_MAX_LISTING_BYTES);
        result = AC_REMOTE_FATAL;
        goto out;
    }
    result = ac_sftp_result(remote, code, curl_error, "list", err, errlen);
    if (result != AC_REMOTE_OK)
        goto out;
    for (line = listing.data; line && *line; line = next) {
        size_t len = strcspn(line, "\r\n");
        next = line + len;
        while (*next == '\r' || *next == '\n')
            *next++ = '\0';
        line[len] = '\0';
        if (ac_feed_wanted(line, pattern) && ac_feed_names_push(names, count, strdup(line)) != 0) {
            snprintf(err, errlen, "out of memory listing %s", remote->name);
            result = AC_REMOTE_RETRY;
            goto out;
        }
    }
out:
    dynbuf_free(&listing);
    return result;
}
