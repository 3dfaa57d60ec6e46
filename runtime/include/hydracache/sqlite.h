/*
** hydracache/sqlite.h -- the SQLite adapter, libhydracache-sqlite
** (pkg-config hydracache-sqlite): an hc_db over a sqlite3 connection.
*/
#ifndef HYDRACACHE_SQLITE_H
#define HYDRACACHE_SQLITE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sqlite3;                     /* sqlite3.h: typedef struct sqlite3 sqlite3 */

/*
** Wrap an open SQLite connection the application keeps owning. Returns
** HC_OK and sets *out, HC_EINVAL (a NULL connection), HC_ENOMEM, HC_ESYS,
** with err (may be NULL) filled. Free the hc_db (hc_db_free) before
** closing the connection. Open the connection with SQLITE_OPEN_READWRITE
** (without SQLITE_OPEN_CREATE) so that a missing file is an error rather
** than a new, empty database.
*/
HC_API int hc_db_sqlite(hc_db **out, struct sqlite3 *conn, hc_error *err);

#ifdef __cplusplus
}
#endif
#endif /* HYDRACACHE_SQLITE_H */
