#include "CSQLiteShims.h"

int caps_sqlite3_disable_checkpoint_on_close(sqlite3 *db) {
    int enabled = -1;
    int rc = sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, &enabled);
    return rc == SQLITE_OK && enabled != 1 ? SQLITE_ERROR : rc;
}
