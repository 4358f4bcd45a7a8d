/* commands_config.h: the `sluice check`, `sluice plugins` and `sluice
 * keygen` commands (cmd_check.c, cmd_plugins.c, cmd_keygen.c), dispatched
 * from main.c. */
#ifndef SLUICE_COMMANDS_CONFIG_H
#define SLUICE_COMMANDS_CONFIG_H

/* `sluice check [--print] FILE...`; argv[0] is "check". Loads the plugins
 * each file needs and validates it; creates nothing. Returns 0 when every
 * file is valid, 69 if a plugin cannot be loaded, 78 on a configuration
 * error, 64 on a usage error. */
int sluice_cmd_check(int argc, char **argv);

/* `sluice plugins [NAME]`; argv[0] is "plugins". Lists every loadable
 * plugin, or prints NAME's options. Returns 0, 69 if NAME (or any plugin
 * at all) cannot be loaded, 64 on a usage error. */
int sluice_cmd_plugins(int argc, char **argv);

/* `sluice keygen [--force] PREFIX`; argv[0] is "keygen". Writes a CURVE
 * key pair (PREFIX.key secret, mode 0600; PREFIX.pub public) and prints
 * the stage keys that use it. Returns 0, 64 on a usage error, 69 if
 * libzmq has no CURVE, 73 if a file cannot be created or exists (without
 * --force). */
int sluice_cmd_keygen(int argc, char **argv);
#endif
