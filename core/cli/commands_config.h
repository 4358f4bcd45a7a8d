/* commands_config.h: the `sluice check` and `sluice plugins` commands
 * (cmd_check.c, cmd_plugins.c), dispatched from main.c. */
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
#endif
