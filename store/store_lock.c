/*
 * store_lock.c - who has the database open, and the repair that must not
 * run while anyone does. LevelDB locks <path>/LOCK with
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

/* store_lock_take(), store_repair(): a process that does not have the
 * database open itself. */
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

/* Take the fcntl lock on path/LOCK (*fd_out holds it until closed);
 * STORE_ERR_LOCKED with the holder's pid in *owner if another process has
 * the database open, STORE_ERR_IO if the file cannot be opened. */
static int store_lock_take(const char *path, int *fd_out, long *owner)
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

int store_repair(const char *path, char *errbuf, size_t errlen)
{
    /* LevelDB's repair takes no lock: hold the one store_open() takes, so
     * that a running broker's live files are never moved away under it */
    int lfd = -1;
    long owner = 0;
    if (store_lock_take(path, &lfd, &owner) == STORE_ERR_LOCKED) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "store: database at %s is open in process %ld", path, owner);
        return STORE_ERR_LOCKED;
    }
    /* STORE_ERR_IO (no directory, say): repair reports what is wrong */
    char *err = NULL;
    leveldb_options_t *o = leveldb_options_create();
    leveldb_options_set_paranoid_checks(o, 0);
    leveldb_repair_db(o, path, &err);
    leveldb_options_destroy(o);
    if (lfd >= 0) close(lfd);
    if (err) {
        int rc = store_err_from_leveldb(err);
        if (errbuf && errlen) snprintf(errbuf, errlen, "store: repair of %s failed: %s", path, err);
        leveldb_free(err);
        return rc == STORE_OK ? STORE_ERR_IO : rc;
    }
    return STORE_OK;
}
