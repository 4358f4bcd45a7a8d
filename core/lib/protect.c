/* protect.c: process-wide protection of secrets and state: the umask and
 * core dumps (see protect.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "protect.h"

int sluice_protect_process(int allow_core_dumps, const char **what)
{
    struct rlimit none = {0, 0};
    mode_t old = umask(077);
    int result = 0;

    *what = NULL;
    /* stricter only: an operator's 027 becomes 077, never looser */
    umask(old | 077);
    if (allow_core_dumps)
        return 0;
    if (setrlimit(RLIMIT_CORE, &none) != 0) {
        *what = "setrlimit(RLIMIT_CORE, 0)";
        result = -1;
    }
#ifdef __linux__
    /* The kernel does not hold a core_pattern pipe handler (systemd-
     * coredump, apport) to RLIMIT_CORE; a non-dumpable process is not
     * dumped at all (with fs.suid_dumpable = 0, the default). */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 && result == 0) {
        *what = "prctl(PR_SET_DUMPABLE, 0)";
        result = -1;
    }
#endif
    return result;
}

int sluice_core_dumps_allowed(void)
{
    const char *value = getenv(SLUICE_ALLOW_CORE_ENV);

    return value && strcmp(value, "1") == 0;
}
