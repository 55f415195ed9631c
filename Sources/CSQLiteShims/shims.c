#include "CSQLiteShims.h"

int caps_sqlite3_disable_checkpoint_on_close(sqlite3 *db) {
    int enabled = -1;
    int rc = sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, &enabled);
    return rc == SQLITE_OK && enabled != 1 ? SQLITE_ERROR : rc;
}

int caps_sqlite3_set_defensive(sqlite3 *db) {
    int enabled = -1;
    int rc = sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, &enabled);
    return rc == SQLITE_OK && enabled != 1 ? SQLITE_ERROR : rc;
}

int caps_sqlite3_is_defensive(sqlite3 *db) {
    int enabled = -1;
    return sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, -1, &enabled) == SQLITE_OK ? enabled : -1;
}

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

int caps_lower_thread_priority(int nice) {
#if defined(__linux__)
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
#else
    (void)nice;
    return 0;
#endif
}

void caps_release_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

int caps_map_large_allocations(size_t threshold) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, (int)threshold);
#else
    (void)threshold;
    return 1;
#endif
}
