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
