/* cmd_keygen.c: `sluice keygen [--force] PREFIX`: write a CURVE key pair
 * for a stage's tcp links (PREFIX.key secret, PREFIX.pub public). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "commands_config.h"
#include "curve.h"

#define EXIT_USAGE 64
#define EXIT_UNAVAILABLE 69
#define EXIT_CANTCREAT 73

static void keygen_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice keygen [--force] PREFIX\n"
            "Write a CURVE key pair for a stage whose link is tcp://:\n"
            "  PREFIX.key  the secret key (mode 0600): only the host that runs the\n"
            "              stage needs it (curve_secret_key_file)\n"
            "  PREFIX.pub  the public key, one line (curve_public_key, in the\n"
            "              pipeline file every host reads)\n"
            "and print the two stage keys to paste into the stage.\n"
            "  --force   replace existing files (the old key stops working)\n"
            "Exit status: 0 written, 64 usage, 69 libzmq without CURVE,\n"
            "73 a file cannot be created or exists already.\n");
}

int sluice_cmd_keygen(int argc, char **argv)
{
    const char *prefix = NULL;
    int force = 0;
    char public_key[41] = "";
    char err[512];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            keygen_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "sluice keygen: unknown option '%s'\n", argv[i]);
            keygen_usage(stderr);
            return EXIT_USAGE;
        } else if (prefix) {
            fprintf(stderr, "sluice keygen: one PREFIX only\n");
            keygen_usage(stderr);
            return EXIT_USAGE;
        } else {
            prefix = argv[i];
        }
    }
    if (!prefix || !*prefix) {
        fprintf(stderr, "sluice keygen: no PREFIX given\n");
        keygen_usage(stderr);
        return EXIT_USAGE;
    }
    if (!sluice_curve_available()) {
        fprintf(stderr, "sluice keygen: this libzmq was built without CURVE (libsodium)\n");
        return EXIT_UNAVAILABLE;
    }
    if (sluice_curve_keygen(prefix, force, public_key, err, sizeof(err)) != 0) {
        fprintf(stderr, "sluice keygen: %s\n", err);
        return EXIT_CANTCREAT;
    }
    printf("wrote %s.key (secret, mode 0600) and %s.pub\n"
           "curve_public_key = \"%s\";\n"
           "curve_secret_key_file = \"%s.key\";\n",
           prefix, prefix, public_key, prefix);
    return 0;
}
