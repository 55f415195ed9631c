#ifndef CAPS_SQLITE_SHIMS_H
#define CAPS_SQLITE_SHIMS_H

#include <sqlite3.h>

/// sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, 0): sqlite3_db_config is variadic,
/// which Swift cannot call. Returns the SQLite result code.
int caps_sqlite3_disable_checkpoint_on_close(sqlite3 *db);

#endif
