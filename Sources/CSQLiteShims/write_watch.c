// A pass-through VFS that notes where SQLite writes a database file, so that a reader can use the
// file's finished parts while SQLite is still writing the rest (see WriteWatch.swift).
//
// Every file opened through the "caps-watch" VFS goes to the default VFS unchanged. A main database
// file opened with the URI parameter `caps_watch=<id>` also bumps a generation counter for each
// fixed-size chunk it writes, once before the write and once after, like a seqlock: a reader that
// saw an even generation before reading a chunk, and sees the same one later, read bytes that no
// write touched in between.
#include "CSQLiteShims.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct caps_write_watch {
    sqlite3_int64 chunk_size;
    uint64_t chunk_count;
    uint64_t *generations;
    uint64_t front;      // the end of the furthest write, in bytes
    uint64_t untracked;  // writes (or truncations) that reached past the last chunk counted
    int id;
};

#define WATCH_SLOTS 64
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static caps_write_watch *registry[WATCH_SLOTS];
static sqlite3_vfs *base_vfs;
static sqlite3_vfs watch_vfs;

typedef struct {
    sqlite3_file base;
    caps_write_watch *watch;  // NULL: a file we only pass through
    sqlite3_file *real;       // the default VFS's file, allocated right after this struct
} watched_file;

static void bump(caps_write_watch *w, sqlite3_int64 offset, sqlite3_int64 length) {
    if (length <= 0 || offset < 0) return;
    uint64_t first = (uint64_t)(offset / w->chunk_size);
    uint64_t last = (uint64_t)((offset + length - 1) / w->chunk_size);
    if (last >= w->chunk_count) {
        __atomic_add_fetch(&w->untracked, 1, __ATOMIC_SEQ_CST);
        if (first >= w->chunk_count) return;
        last = w->chunk_count - 1;
    }
    for (uint64_t c = first; c <= last; c++) __atomic_add_fetch(&w->generations[c], 1, __ATOMIC_SEQ_CST);
}

static int watch_close(sqlite3_file *f) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods ? p->real->pMethods->xClose(p->real) : SQLITE_OK;
}
static int watch_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods->xRead(p->real, buf, amt, off);
}
static int watch_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off) {
    watched_file *p = (watched_file *)f;
    caps_write_watch *w = p->watch;
    if (w) bump(w, off, amt);
    int rc = p->real->pMethods->xWrite(p->real, buf, amt, off);
    if (w) {
        bump(w, off, amt);
        uint64_t end = (uint64_t)(off + amt), seen = __atomic_load_n(&w->front, __ATOMIC_SEQ_CST);
        while (end > seen && !__atomic_compare_exchange_n(&w->front, &seen, end, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
    }
    return rc;
}
static int watch_truncate(sqlite3_file *f, sqlite3_int64 size) {
    watched_file *p = (watched_file *)f;
    caps_write_watch *w = p->watch;
    // Everything from the chunk holding the new end onwards may change: count it as written.
    sqlite3_int64 span = w ? (sqlite3_int64)w->chunk_count * w->chunk_size - size : 0;
    if (w) bump(w, size, span > 0 ? span : 1);
    int rc = p->real->pMethods->xTruncate(p->real, size);
    if (w) bump(w, size, span > 0 ? span : 1);
    return rc;
}
static int watch_sync(sqlite3_file *f, int flags) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods->xSync(p->real, flags);
}
static int watch_file_size(sqlite3_file *f, sqlite3_int64 *size) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods->xFileSize(p->real, size);
}
static int watch_lock(sqlite3_file *f, int level) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods->xLock(p->real, level);
}
static int watch_unlock(sqlite3_file *f, int level) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods->xUnlock(p->real, level);
}
static int watch_check_reserved(sqlite3_file *f, int *out) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods->xCheckReservedLock(p->real, out);
}
// No special case for SQLITE_FCNTL_SIZE_HINT (the pager sends one before most writes): the default
// VFS may extend the file for it, but only past its current end, which no reader has used yet.
static int watch_file_control(sqlite3_file *f, int op, void *arg) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods->xFileControl(p->real, op, arg);
}
static int watch_sector_size(sqlite3_file *f) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods->xSectorSize(p->real);
}
static int watch_device_characteristics(sqlite3_file *f) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods->xDeviceCharacteristics(p->real);
}
static int watch_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods->xShmMap(p->real, page, size, extend, out);
}
static int watch_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods->xShmLock(p->real, offset, n, flags);
}
static void watch_shm_barrier(sqlite3_file *f) {
    watched_file *p = (watched_file *)f;
    p->real->pMethods->xShmBarrier(p->real);
}
static int watch_shm_unmap(sqlite3_file *f, int delete_flag) {
    watched_file *p = (watched_file *)f;
    return p->real->pMethods->xShmUnmap(p->real, delete_flag);
}
// No memory-mapped pages: every read goes through xRead, so nothing bypasses the watch.
static int watch_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **out) {
    (void)f; (void)off; (void)amt;
    *out = 0;
    return SQLITE_OK;
}
static int watch_unfetch(sqlite3_file *f, sqlite3_int64 off, void *page) {
    (void)f; (void)off; (void)page;
    return SQLITE_OK;
}

static const sqlite3_io_methods watch_methods = {
    3, watch_close, watch_read, watch_write, watch_truncate, watch_sync, watch_file_size,
    watch_lock, watch_unlock, watch_check_reserved, watch_file_control, watch_sector_size,
    watch_device_characteristics, watch_shm_map, watch_shm_lock, watch_shm_barrier, watch_shm_unmap,
    watch_fetch, watch_unfetch,
};

static int watch_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags) {
    (void)vfs;
    watched_file *p = (watched_file *)f;
    memset(p, 0, sizeof *p);
    p->real = (sqlite3_file *)&p[1];
    int rc = base_vfs->xOpen(base_vfs, name, p->real, flags, out_flags);
    if (rc != SQLITE_OK || p->real->pMethods == 0) {
        f->pMethods = 0;  // SQLite calls no method of a file that failed to open
        return rc;
    }
    if ((flags & SQLITE_OPEN_MAIN_DB) && name) {
        const char *id = sqlite3_uri_parameter(name, "caps_watch");
        int slot = id ? atoi(id) : 0;
        if (slot > 0 && slot <= WATCH_SLOTS) {
            pthread_mutex_lock(&registry_lock);
            p->watch = registry[slot - 1];
            pthread_mutex_unlock(&registry_lock);
        }
    }
    f->pMethods = &watch_methods;
    return SQLITE_OK;
}

static int watch_delete(sqlite3_vfs *v, const char *n, int s) { (void)v; return base_vfs->xDelete(base_vfs, n, s); }
static int watch_access(sqlite3_vfs *v, const char *n, int fl, int *o) { (void)v; return base_vfs->xAccess(base_vfs, n, fl, o); }
static int watch_full_pathname(sqlite3_vfs *v, const char *n, int sz, char *o) { (void)v; return base_vfs->xFullPathname(base_vfs, n, sz, o); }
static void *watch_dlopen(sqlite3_vfs *v, const char *n) { (void)v; return base_vfs->xDlOpen(base_vfs, n); }
static void watch_dlerror(sqlite3_vfs *v, int n, char *o) { (void)v; base_vfs->xDlError(base_vfs, n, o); }
static void (*watch_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return base_vfs->xDlSym(base_vfs, h, s); }
static void watch_dlclose(sqlite3_vfs *v, void *h) { (void)v; base_vfs->xDlClose(base_vfs, h); }
static int watch_randomness(sqlite3_vfs *v, int n, char *o) { (void)v; return base_vfs->xRandomness(base_vfs, n, o); }
static int watch_sleep(sqlite3_vfs *v, int us) { (void)v; return base_vfs->xSleep(base_vfs, us); }
static int watch_current_time(sqlite3_vfs *v, double *o) { (void)v; return base_vfs->xCurrentTime(base_vfs, o); }
static int watch_last_error(sqlite3_vfs *v, int n, char *o) { (void)v; return base_vfs->xGetLastError(base_vfs, n, o); }
static int watch_current_time64(sqlite3_vfs *v, sqlite3_int64 *o) { (void)v; return base_vfs->xCurrentTimeInt64(base_vfs, o); }

static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static int register_rc = SQLITE_ERROR;

static void register_vfs(void) {
    base_vfs = sqlite3_vfs_find(0);
    if (!base_vfs || base_vfs->iVersion < 2) return;
    watch_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(watched_file) + base_vfs->szOsFile,
        .mxPathname = base_vfs->mxPathname,
        .zName = CAPS_WRITE_WATCH_VFS,
        .xOpen = watch_open, .xDelete = watch_delete, .xAccess = watch_access, .xFullPathname = watch_full_pathname,
        .xDlOpen = watch_dlopen, .xDlError = watch_dlerror, .xDlSym = watch_dlsym, .xDlClose = watch_dlclose,
        .xRandomness = watch_randomness, .xSleep = watch_sleep, .xCurrentTime = watch_current_time,
        .xGetLastError = watch_last_error, .xCurrentTimeInt64 = watch_current_time64,
    };
    register_rc = sqlite3_vfs_register(&watch_vfs, 0);
}

caps_write_watch *caps_write_watch_create(sqlite3_int64 chunk_size, uint64_t chunk_count) {
    pthread_once(&register_once, register_vfs);
    if (register_rc != SQLITE_OK || chunk_size <= 0) return 0;
    caps_write_watch *w = calloc(1, sizeof *w);
    if (!w) return 0;
    w->chunk_size = chunk_size;
    w->chunk_count = chunk_count;
    w->generations = calloc(chunk_count ? chunk_count : 1, sizeof(uint64_t));
    if (!w->generations) { free(w); return 0; }
    pthread_mutex_lock(&registry_lock);
    for (int i = 0; i < WATCH_SLOTS; i++) {
        if (!registry[i]) { registry[i] = w; w->id = i + 1; break; }
    }
    pthread_mutex_unlock(&registry_lock);
    if (!w->id) { free(w->generations); free(w); return 0; }
    return w;
}

int caps_write_watch_id(const caps_write_watch *w) { return w->id; }

uint64_t caps_write_watch_generation(caps_write_watch *w, uint64_t chunk) {
    return chunk < w->chunk_count ? __atomic_load_n(&w->generations[chunk], __ATOMIC_SEQ_CST) : 1;
}

uint64_t caps_write_watch_front(caps_write_watch *w) { return __atomic_load_n(&w->front, __ATOMIC_SEQ_CST); }

uint64_t caps_write_watch_untracked(caps_write_watch *w) { return __atomic_load_n(&w->untracked, __ATOMIC_SEQ_CST); }

void caps_write_watch_free(caps_write_watch *w) {
    if (!w) return;
    pthread_mutex_lock(&registry_lock);
    if (w->id > 0 && registry[w->id - 1] == w) registry[w->id - 1] = 0;
    pthread_mutex_unlock(&registry_lock);
    free(w->generations);
    free(w);
}
