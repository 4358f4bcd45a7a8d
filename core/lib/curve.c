/* curve.c: CURVE keys of tcp stage links: Z85 key text, the key files
 * `sluice keygen` writes and stages read, loopback hosts, and the rules
 * that say how each link of a pipeline is secured and bounded. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"

static const char z85_alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   ".-:+=^!/*?&<>()[]{}@%$#";

int sluice_curve_available(void)
{
    return zmq_has("curve") ? 1 : 0;
}

int sluice_curve_key_valid(const char *text)
{
    if (!text || strlen(text) != SLUICE_CURVE_Z85_LEN)
        return 0;
    /* every 5 characters are one base-85 number that must fit 32 bits */
    for (size_t group = 0; group < SLUICE_CURVE_Z85_LEN; group += 5) {
        unsigned long long value = 0;
        for (size_t i = group; i < group + 5; i++) {
            const char *at = strchr(z85_alphabet, text[i]);
            if (!at || text[i] == '\0')
                return 0;
            value = value * 85 + (unsigned long long)(at - z85_alphabet);
        }
        if (value > 0xffffffffULL)
            return 0;
    }
    return 1;
}

/* Write `text` to a new temporary file next to `final` (mode `mode`) and
 * sync it. Returns the temporary path (caller frees and removes) or NULL
 * with errbuf set. */
static char *write_temp(const char *final, const char *text, mode_t mode, char *errbuf,
                        size_t errlen)
{
    size_t len = strlen(final) + sizeof(".XXXXXX");
    char *temp = malloc(len);
    int fd = -1;
    size_t want = strlen(text);
    char *result = NULL;

    if (!temp) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    snprintf(temp, len, "%s.XXXXXX", final);
    fd = mkstemp(temp); /* created 0600 */
    if (fd < 0) {
        snprintf(errbuf, errlen, "cannot create %s: %s", temp, strerror(errno));
        goto out;
    }
    if (fchmod(fd, mode) != 0 || write(fd, text, want) != (ssize_t)want || fsync(fd) != 0) {
        snprintf(errbuf, errlen, "cannot write %s: %s", temp, strerror(errno));
        unlink(temp);
        goto out;
    }
    result = temp;
    temp = NULL;
out:
    if (fd >= 0)
        close(fd);
    free(temp);
    return result;
}

/* Move temporary file `temp` to `final`: replacing it when `force`, else
 * only if `final` does not exist (link, so two keygens cannot both win).
 * Returns 0 or -1 with errbuf set; `temp` is gone either way. */
static int install_file(const char *temp, const char *final, int force, char *errbuf,
                        size_t errlen)
{
    int rc = force ? rename(temp, final) : link(temp, final);

    if (rc != 0)
        snprintf(errbuf, errlen, errno == EEXIST ? "%s already exists (--force replaces it)"
                                                 : "cannot create %s: %s",
                 final, strerror(errno));
    unlink(temp);
    return rc == 0 ? 0 : -1;
}

int sluice_curve_keygen(const char *prefix, int force, char public_z85[41], char *errbuf,
                        size_t errlen)
{
    char secret[41] = "", key_text[160], pub_text[48];
    char key_path[4096], pub_path[4096];
    char *key_temp = NULL, *pub_temp = NULL;
    int key_installed = 0;
    int result = -1;

    if (!sluice_curve_available()) {
        snprintf(errbuf, errlen, "this libzmq was built without CURVE (libsodium)");
        goto out;
    }
    if ((size_t)snprintf(key_path, sizeof(key_path), "%s.key", prefix) >= sizeof(key_path) ||
        (size_t)snprintf(pub_path, sizeof(pub_path), "%s.pub", prefix) >= sizeof(pub_path)) {
        snprintf(errbuf, errlen, "key file name too long");
        goto out;
    }
    if (!force && (access(key_path, F_OK) == 0 || access(pub_path, F_OK) == 0)) {
        snprintf(errbuf, errlen, "%s already exists (--force replaces it)",
                 access(key_path, F_OK) == 0 ? key_path : pub_path);
        goto out;
    }
    /* A '$' in a pipeline value starts ${VAR} or $$: draw again until the
     * public key has none, so it can be pasted as it is (~1.6 draws). */
    do {
        if (zmq_curve_keypair(public_z85, secret) != 0) {
            snprintf(errbuf, errlen, "cannot make a key pair: %s", zmq_strerror(errno));
            goto out;
        }
    } while (strchr(public_z85, '$'));
    snprintf(key_text, sizeof(key_text),
             "# sluice CURVE secret key: keep it private (mode 0600)\n"
             "# public key: %s\n%s\n", public_z85, secret);
    snprintf(pub_text, sizeof(pub_text), "%s\n", public_z85);
    key_temp = write_temp(key_path, key_text, 0600, errbuf, errlen);
    pub_temp = key_temp ? write_temp(pub_path, pub_text, 0644, errbuf, errlen) : NULL;
    if (!pub_temp)
        goto out;
    if (install_file(key_temp, key_path, force, errbuf, errlen) != 0)
        goto out;
    key_installed = 1;
    if (install_file(pub_temp, pub_path, force, errbuf, errlen) != 0)
        goto out;
    result = 0;
out:
    if (result != 0 && key_installed)
        unlink(key_path); /* a secret without its public half helps nobody */
    if (key_temp)
        unlink(key_temp);
    if (pub_temp)
        unlink(pub_temp);
    free(key_temp);
    free(pub_temp);
    explicit_bzero(secret, sizeof(secret));
    explicit_bzero(key_text, sizeof(key_text));
    return result;
}

int sluice_curve_read_secret(const char *path, char secret_z85[41], char public_z85[41],
                             char *errbuf, size_t errlen)
{
    char text[512];
    struct stat st;
    ssize_t got;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int found = 0;
    int result = -1;
    char *line, *next;

    secret_z85[0] = '\0';
    if (fd < 0) {
        if (errno == ENOENT) {
            snprintf(errbuf, errlen, "%s does not exist", path);
            return SLUICE_CURVE_NO_FILE;
        }
        snprintf(errbuf, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(errbuf, errlen, "%s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & 077) {
        snprintf(errbuf, errlen, "%s is open to group or others (mode %04o): a secret key "
                 "file must be the owner's alone (chmod 600)", path,
                 (unsigned)(st.st_mode & 07777));
        goto out;
    }
    got = read(fd, text, sizeof(text) - 1);
    if (got < 0) {
        snprintf(errbuf, errlen, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    text[got] = '\0';
    /* one key line; blank lines and '#' comments (keygen's) aside */
    for (line = text; line && *line; line = next) {
        size_t n;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        n = strlen(line);
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        if (found || !sluice_curve_key_valid(line)) {
            found = 0;
            break;
        }
        memcpy(secret_z85, line, SLUICE_CURVE_Z85_LEN + 1);
        found = 1;
    }
    if (!found || (size_t)got == sizeof(text) - 1) {
        snprintf(errbuf, errlen, "%s does not hold one CURVE secret key (a line of 40 Z85 "
                 "characters, as sluice keygen writes)", path);
        goto out;
    }
    if (zmq_curve_public(public_z85, secret_z85) != 0) {
        snprintf(errbuf, errlen, "%s: cannot derive the public key: %s", path,
                 zmq_strerror(errno));
        goto out;
    }
    result = 0;
out:
    if (result != 0)
        explicit_bzero(secret_z85, 41);
    explicit_bzero(text, sizeof(text));
    close(fd);
    return result;
}

int sluice_endpoint_is_tcp(const char *endpoint)
{
    return endpoint && strncmp(endpoint, "tcp://", 6) == 0;
}

int sluice_endpoint_is_loopback(const char *endpoint)
{
    char host[256];
    const char *colon;
    struct in_addr address;
    size_t len;

    if (!sluice_endpoint_is_tcp(endpoint))
        return 0;
    colon = strrchr(endpoint + 6, ':');
    len = colon ? (size_t)(colon - (endpoint + 6)) : 0;
    if (len == 0 || len >= sizeof(host))
        return 0;
    memcpy(host, endpoint + 6, len);
    host[len] = '\0';
    if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
        return 1;
    return inet_pton(AF_INET, host, &address) == 1 &&
           (ntohl(address.s_addr) >> 24) == 127;
}

sluice_link_kind sluice_link_kind_of(const sluice_pipeline_def *pipeline, size_t index)
{
    const sluice_stage_common *common = &pipeline->stages[index].common;

    if (!sluice_endpoint_is_tcp(common->endpoint))
        return SLUICE_LINK_LOCAL;
    if (common->curve_public_key)
        return SLUICE_LINK_CURVE;
    return sluice_endpoint_is_loopback(common->endpoint) ? SLUICE_LINK_LOOPBACK
                                                         : SLUICE_LINK_INSECURE;
}

long long sluice_link_frame_max(const sluice_pipeline_def *pipeline, size_t index)
{
    long long records = pipeline->batch_size > 0 ? (long long)pipeline->batch_size : 500;

    if (pipeline->stages[index].common.max_frame_bytes > 0)
        return pipeline->stages[index].common.max_frame_bytes;
    return SLUICE_FRAME_BASE_BYTES + records * SLUICE_FRAME_RECORD_BYTES;
}

/* Check the keys and tcp options of stage `i` alone and the link into it.
 * Returns 0, or -1 with *key and why set. */
static int check_stage_link(const sluice_pipeline_def *pipeline, size_t i, const char **key,
                            char *why, size_t len)
{
    const sluice_stage_def *stage = &pipeline->stages[i];
    const sluice_stage_common *common = &stage->common;
    const sluice_stage_def *upstream = i > 0 ? &pipeline->stages[i - 1] : NULL;
    /* a source has no input: its endpoint, if any, is never bound */
    sluice_link_kind kind = i > 0 ? sluice_link_kind_of(pipeline, i) : SLUICE_LINK_LOCAL;

    if (common->curve_public_key && !common->curve_secret_key_file) {
        *key = "curve_public_key";
        snprintf(why, len, "curve_public_key needs curve_secret_key_file, the file with its "
                 "secret half (sluice keygen writes both; only the host that runs the stage "
                 "needs the file)");
        return -1;
    }
    if (common->curve_secret_key_file && !common->curve_public_key) {
        *key = "curve_secret_key_file";
        snprintf(why, len, "curve_secret_key_file needs curve_public_key, the public half "
                 "every other host checks it against");
        return -1;
    }
    if (common->curve_public_key && !sluice_curve_available()) {
        *key = "curve_public_key";
        snprintf(why, len, "this libzmq was built without CURVE (libsodium), so keys cannot "
                 "be used");
        return -1;
    }
    if (common->insecure_tcp && kind != SLUICE_LINK_INSECURE) {
        *key = "insecure_tcp";
        snprintf(why, len, "insecure_tcp = true applies only to a tcp:// endpoint off "
                 "loopback without keys; this stage's %s", kind == SLUICE_LINK_CURVE
                 ? "link has keys (CURVE)" : "input is not reachable from other hosts");
        return -1;
    }
    if (common->curve_clients && kind != SLUICE_LINK_CURVE) {
        *key = "curve_clients";
        snprintf(why, len, "curve_clients admits clients to a tcp:// input with keys; this "
                 "stage's input has %s", sluice_endpoint_is_tcp(common->endpoint)
                 ? "no curve_public_key" : "no tcp:// endpoint");
        return -1;
    }
    if (kind == SLUICE_LINK_INSECURE && !common->insecure_tcp) {
        *key = "endpoint";
        snprintf(why, len, "endpoint %s is reachable from other hosts and the link has no "
                 "keys: anyone who can reach its ports can inject records (delivered with "
                 "the real credentials), make real ones vanish, steal acks and exhaust "
                 "memory. Give this stage and its upstream '%s' keys (curve_public_key, "
                 "curve_secret_key_file; see sluice keygen), or set insecure_tcp = true to "
                 "accept that", common->endpoint, upstream ? upstream->name : "?");
        return -1;
    }
    if (kind == SLUICE_LINK_CURVE && upstream && !upstream->common.curve_public_key) {
        *key = "curve_public_key";
        snprintf(why, len, "the link into this stage uses CURVE, so its upstream stage '%s' "
                 "(the client) needs a key pair too: give it curve_public_key and "
                 "curve_secret_key_file", upstream->name);
        return -1;
    }
    return 0;
}

int sluice_pipeline_check_links(const sluice_pipeline_def *pipeline, size_t *stage,
                                const char **key, char *why, size_t len)
{
    for (size_t i = 0; i < pipeline->stage_count; i++) {
        if (check_stage_link(pipeline, i, key, why, len) != 0) {
            *stage = i;
            return -1;
        }
    }
    return 0;
}
