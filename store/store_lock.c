/*
 * store_lock.c - who has the database open. LevelDB locks <path>/LOCK with
 * an fcntl write lock for as long as a process has the database open
 * (store_open() to store_close()); the offline tools (`sluice --repair`,
 * `sluice dlq list|replay`) must not touch a database a running broker
 * writes: LevelDB's repair takes no lock and would move live files away.
 *
 * fcntl locks belong to a process and are dropped when the process closes
 * any descriptor of the file, so these functions are for a process that
 * does not have the database open itself. No thread of their own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"

static int lock_fd(const char *path, int flags)
{
    char f[4096];
    if ((size_t)snprintf(f, sizeof(f), "%s/LOCK", path) >= sizeof(f)) return -1;
    return open(f, flags | O_CLOEXEC, 0644);
}

long store_lock_owner(const char *path)
{
    int fd = lock_fd(path, O_RDONLY);
    if (fd < 0) return errno == ENOENT ? 0 : -1; /* never opened: nobody holds it */
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    long pid = fcntl(fd, F_GETLK, &fl) ? -1 : fl.l_type == F_UNLCK ? 0 : (long)fl.l_pid;
    close(fd);
    return pid;
}

int store_lock_take(const char *path, int *fd_out, long *owner)
{
    *fd_out = -1;
    *owner = 0;
    int fd = lock_fd(path, O_RDWR | O_CREAT);
    if (fd < 0) return STORE_ERR_IO;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) == 0) {
        *fd_out = fd;
        return STORE_OK;
    }
    int e = errno;
    close(fd);
    if (e != EAGAIN && e != EACCES) return STORE_ERR_IO;
    *owner = store_lock_owner(path);
    return STORE_ERR_LOCKED;
}
