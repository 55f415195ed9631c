#ifndef CAPS_SQLITE_SHIMS_H
#define CAPS_SQLITE_SHIMS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/// sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, 0): sqlite3_db_config is variadic,
/// which Swift cannot call. Returns the SQLite result code.
int caps_sqlite3_disable_checkpoint_on_close(sqlite3 *db);

/// sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, 0): SQL can no longer deliberately corrupt the
/// file (writable_schema, journal_mode=OFF, schema_version=N, shadow-table writes). Returns the result code.
int caps_sqlite3_set_defensive(sqlite3 *db);
/// Whether the connection is in defensive mode: 1, 0, or -1 on error.
int caps_sqlite3_is_defensive(sqlite3 *db);

/// Hands the memory the process has freed back to the system (glibc's malloc_trim(0), which Swift's
/// Glibc module does not declare); a no-op elsewhere. Before a long phase whose own memory is small.
void caps_release_free_memory(void);

/// Serves every allocation of at least `threshold` bytes with its own mmap, returned to the system by
/// free() (glibc's mallopt(M_MMAP_THRESHOLD), which also turns off glibc's raising of that threshold
/// each time a large block is freed). Returns 1 on success (and elsewhere than glibc), 0 on failure.
int caps_map_large_allocations(size_t threshold);

/// Lowers the calling thread's scheduling priority to `nice` (Linux: setpriority on the thread id), for
/// work that must yield to the POS on a shared CPU. Irreversible without privileges: only for threads that
/// end with the work. Returns 0, or -1 with errno.
int caps_lower_thread_priority(int nice);

/// The name of the pass-through VFS that reports writes (write_watch.c).
#define CAPS_WRITE_WATCH_VFS "caps-watch"

/// Where SQLite has written one database file: a generation per chunk of `chunk_size` bytes, odd
/// while a write to it is under way, and the end of the furthest write. Open the file with the
/// URI `file:PATH?vfs=caps-watch&caps_watch=<caps_write_watch_id>`. Registers the VFS on first use;
/// NULL if that failed or memory ran out. Free it only once no connection has the file open.
typedef struct caps_write_watch caps_write_watch;
caps_write_watch *caps_write_watch_create(sqlite3_int64 chunk_size, uint64_t chunk_count);
int caps_write_watch_id(const caps_write_watch *watch);
/// Chunks past `chunk_count` always report generation 1: never safe to use early.
uint64_t caps_write_watch_generation(caps_write_watch *watch, uint64_t chunk);
uint64_t caps_write_watch_front(caps_write_watch *watch);
uint64_t caps_write_watch_untracked(caps_write_watch *watch);
void caps_write_watch_free(caps_write_watch *watch);

#endif
