/* curve.h: CURVE keys of tcp stage links (implemented in curve.c): Z85
 * key text, the key files `sluice keygen` writes and stages read, which
 * tcp:// hosts are loopback, and how each link of a pipeline is secured
 * and bounded (docs/architecture.md, "Links and security"). */
#ifndef SLUICE_CURVE_H
#define SLUICE_CURVE_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline.h"

/* A CURVE key is 32 bytes, written as 40 Z85 characters. */
#define SLUICE_CURVE_KEY_BYTES 32
#define SLUICE_CURVE_Z85_LEN 40

/* Largest frame a stage's input takes by default: room for one record
 * of up to SLUICE_FRAME_BASE_BYTES plus SLUICE_FRAME_RECORD_BYTES for
 * each record of a full batch (a loyalty member is 1-2 KB as JSON). */
#define SLUICE_FRAME_BASE_BYTES (16LL * 1024 * 1024)
#define SLUICE_FRAME_RECORD_BYTES (32LL * 1024)
/* Bounds of the max_frame_bytes stage key. */
#define SLUICE_FRAME_MIN_BYTES (64LL * 1024)
#define SLUICE_FRAME_MAX_BYTES (1LL << 40)
/* Largest ack frame taken ({"v":1,"epoch":E,"id":N} is under 64 bytes). */
#define SLUICE_ACK_FRAME_MAX_BYTES 1024

/* 1 if this libzmq can do CURVE (built with libsodium), else 0. */
int sluice_curve_available(void);

/* 1 if `text` is exactly 40 Z85 characters that decode to a key, else 0. */
int sluice_curve_key_valid(const char *text);

/* Write a new key pair for `prefix` (its public key never contains '$',
 * which a pipeline value would expand): PREFIX.key holds the secret key
 * (one Z85 line, created with mode 0600; an existing file is refused
 * unless `force`) and PREFIX.pub the public key (one Z85 line, 0644).
 * The public key is also copied to `public_z85` (41 bytes). Returns 0, or
 * -1 with the reason (naming the file) in errbuf; on error no secret key
 * file is left behind. */
int sluice_curve_keygen(const char *prefix, int force, char public_z85[41], char *errbuf,
                        size_t errlen);

/* Outcome of sluice_curve_read_secret besides 0. */
#define SLUICE_CURVE_NO_FILE -2 /* the file does not exist (it may live on another host) */

/* Read the secret key file at `path`: a regular file not accessible to
 * group or others (the owner's mode bits only, as ssh asks of its keys)
 * holding one Z85 key line. Fills `secret_z85` and the public key derived
 * from it in `public_z85` (41 bytes each; the caller should wipe the
 * secret after use). Returns 0; SLUICE_CURVE_NO_FILE if the file does not
 * exist; -1 with the reason in errbuf otherwise. */
int sluice_curve_read_secret(const char *path, char secret_z85[41], char public_z85[41],
                             char *errbuf, size_t errlen);

/* 1 if `endpoint` is tcp:// to a loopback host (127.0.0.0/8, localhost,
 * [::1]), else 0 (other hosts, wildcards such as * or 0.0.0.0, and
 * endpoints that are not tcp://). */
int sluice_endpoint_is_loopback(const char *endpoint);

/* 1 if `endpoint` is tcp://, else 0. */
int sluice_endpoint_is_tcp(const char *endpoint);

/* How the link into stage `index` (> 0) travels between processes. */
typedef enum sluice_link_kind {
    SLUICE_LINK_LOCAL,    /* ipc:// (or inproc:// inside a unit): filesystem permissions */
    SLUICE_LINK_LOOPBACK, /* tcp:// on a loopback host without keys: this host's users */
    SLUICE_LINK_CURVE,    /* tcp:// with keys: CURVE, clients admitted by the ZAP handler */
    SLUICE_LINK_INSECURE  /* tcp:// elsewhere without keys: insecure_tcp = true */
} sluice_link_kind;

/* The kind of the link into stage `index` of `pipeline`, from its
 * endpoint and keys. */
sluice_link_kind sluice_link_kind_of(const sluice_pipeline_def *pipeline, size_t index);

/* The largest frame the input of stage `index` takes: its
 * max_frame_bytes, or the default for the pipeline's batch_size. */
long long sluice_link_frame_max(const sluice_pipeline_def *pipeline, size_t index);

/* Check the security of every link of `pipeline` (sluice check): a tcp
 * endpoint that is not loopback needs keys or insecure_tcp = true; a stage
 * with curve_public_key needs curve_secret_key_file, and one whose input
 * uses CURVE needs an upstream with keys; insecure_tcp goes only with a
 * tcp endpoint without keys; keys need a libzmq with CURVE. Returns 0, or
 * -1 with *stage the stage to blame, *key the stage key to point at and
 * the reason in `why`. */
int sluice_pipeline_check_links(const sluice_pipeline_def *pipeline, size_t *stage,
                                const char **key, char *why, size_t len);
#endif
