/* private_dir.h: the one place sluice creates directories for its state
 * (state_dir, runtime_dir, the store's directory): mode 0700, so spooled
 * member data, the DLQ, sockets and pid files are the service user's
 * alone. Implemented in util/private_dir.c. */
#ifndef SLUICE_UTIL_PRIVATE_DIR_H
#define SLUICE_UTIL_PRIVATE_DIR_H

/* The mode of every directory sluice creates. */
#define SLUICE_PRIVATE_DIR_MODE 0700

/* mkdir -p `path`: each missing directory is created with
 * SLUICE_PRIVATE_DIR_MODE (less the umask); existing ones are left as
 * they are. Returns 0, or -1 with errno set (ENAMETOOLONG for a path of
 * 4096 bytes or more, ENOTDIR when a part is a file). */
int sluice_make_private_dirs(const char *path);
#endif
