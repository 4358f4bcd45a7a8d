/* ztool.c: a stranger on a stage link, for the tests: a bare ZeroMQ peer
 * that connects to a stage's tcp:// (or ipc://) ports and pushes frames or
 * pulls whatever it is given, optionally as a CURVE client.
 *
 *   ztool [CURVE] push EP FILE...      send each file as one frame
 *   ztool [CURVE] pushwait EP GO FILE... connect, wait until file GO exists,
 *                                      then send
 *   ztool [CURVE] pushbig EP MB        send one frame of MB MiB ('{' ... '}')
 *   ztool [CURVE] pull EP SECONDS      print each frame received (one line,
 *                                      at most 200 bytes) for SECONDS
 *   CURVE: --server-key Z85 [--key FILE]  a CURVE client of that server,
 *          with the key pair in FILE (a secret key file as sluice keygen
 *          writes) or a fresh one
 *
 * A send waits at most 3 s for a connection to queue to, and the frames
 * sent at most 3 s to leave (linger); a peer that refuses the handshake
 * leaves them unsent. Prints "sent N" (frames queued) or "received N"
 * last. Exit status: 0, or 2 on a usage or socket error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define LINGER_MS 3000

static void usage(void)
{
    fprintf(stderr, "usage: ztool [--server-key Z85 [--key FILE]] push EP FILE...\n"
                    "       ztool [...] pushwait EP GOFILE FILE... | pushbig EP MB | "
                    "pull EP SECONDS\n");
    exit(2);
}

/* Read the secret key line of a key file (lines starting with '#' skipped)
 * into secret (41 bytes). Returns 0 or -1. */
static int read_secret(const char *path, char *secret)
{
    char line[256];
    FILE *f = fopen(path, "r");
    int found = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (strlen(line) == 40) {
            memcpy(secret, line, 41);
            found = 0;
        }
        break;
    }
    fclose(f);
    return found;
}

/* Make the socket a CURVE client of server_key with the key pair in
 * key_file, or a fresh one when key_file is NULL. Returns 0 or -1. */
static int make_client(void *sock, const char *server_key, const char *key_file)
{
    char public_key[41], secret[41];

    if (key_file) {
        if (read_secret(key_file, secret) != 0 || zmq_curve_public(public_key, secret) != 0)
            return -1;
    } else if (zmq_curve_keypair(public_key, secret) != 0) {
        return -1;
    }
    return zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_key, 41) == 0 &&
                   zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, public_key, 41) == 0 &&
                   zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret, 41) == 0
               ? 0 : -1;
}

/* Read a whole file. Returns malloc'd data (size in *len) or NULL. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long size;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)size + 1)) != NULL) {
        *len = fread(data, 1, (size_t)size, f);
    }
    fclose(f);
    return data;
}

/* Sleep `ms` milliseconds. */
static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* zmq_msg_init_data deallocator. */
static void free_data(void *data, void *hint)
{
    (void)hint;
    free(data);
}

int main(int argc, char **argv)
{
    const char *server_key = NULL, *key_file = NULL;
    const char *command, *endpoint;
    void *ctx, *sock;
    int i = 1, linger = LINGER_MS, sent = 0, received = 0;

    while (i + 1 < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--server-key") == 0)
            server_key = argv[i + 1];
        else if (strcmp(argv[i], "--key") == 0)
            key_file = argv[i + 1];
        else
            usage();
        i += 2;
    }
    if (i + 2 >= argc)
        usage();
    command = argv[i];
    endpoint = argv[i + 1];
    ctx = zmq_ctx_new();
    sock = zmq_socket(ctx, strcmp(command, "pull") == 0 ? ZMQ_PULL : ZMQ_PUSH);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
    /* a peer that refuses the handshake leaves no pipe to queue into */
    zmq_setsockopt(sock, ZMQ_SNDTIMEO, &linger, sizeof(linger));
    if (server_key && make_client(sock, server_key, key_file) != 0) {
        fprintf(stderr, "ztool: cannot set up CURVE: %s\n", zmq_strerror(errno));
        return 2;
    }
    if (zmq_connect(sock, endpoint) != 0) {
        fprintf(stderr, "ztool: cannot connect to %s: %s\n", endpoint, zmq_strerror(errno));
        return 2;
    }
    if (strcmp(command, "pull") == 0) {
        int timeout = 100;
        long deadline_ms = strtol(argv[i + 2], NULL, 10) * 1000;
        zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
        for (long waited = 0; waited < deadline_ms; waited += timeout) {
            char buf[200];
            int n = zmq_recv(sock, buf, sizeof(buf), 0);
            if (n < 0)
                continue;
            received++;
            printf("%.*s\n", (int)strcspn(buf, "\n") < n ? (int)strcspn(buf, "\n") : n, buf);
            fflush(stdout);
        }
        printf("received %d\n", received);
    } else if (strcmp(command, "pushbig") == 0) {
        size_t size = (size_t)strtol(argv[i + 2], NULL, 10) * 1024 * 1024;
        char *data = size >= 2 ? malloc(size) : NULL;
        zmq_msg_t msg;
        if (!data)
            usage();
        memset(data, ' ', size);
        data[0] = '{';
        data[size - 1] = '}';
        zmq_msg_init_data(&msg, data, size, free_data, NULL);
        if (zmq_msg_send(&msg, sock, 0) >= 0)
            sent++;
        printf("sent %d\n", sent);
    } else if (strcmp(command, "push") == 0 || strcmp(command, "pushwait") == 0) {
        int first = i + 2;
        if (strcmp(command, "pushwait") == 0) {
            struct stat st;
            if (first + 1 >= argc)
                usage();
            while (stat(argv[first], &st) != 0)
                nap(20);
            first++;
        }
        for (int f = first; f < argc; f++) {
            size_t len = 0;
            char *data = slurp(argv[f], &len);
            if (!data) {
                fprintf(stderr, "ztool: cannot read %s\n", argv[f]);
                return 2;
            }
            if (zmq_send(sock, data, len, 0) >= 0)
                sent++;
            free(data);
        }
        printf("sent %d\n", sent);
    } else {
        usage();
    }
    fflush(stdout);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return 0;
}
