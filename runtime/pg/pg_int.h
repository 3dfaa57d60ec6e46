/*
** pg_int.h -- what the PostgreSQL adapter (db_pg.c) and the PostgreSQL bus
** (bus_pg.c) of libhydracache-pg share.
*/
#ifndef HC_PG_INT_H
#define HC_PG_INT_H

#include <stddef.h>

#include "db_int.h"
#include "hydracache/bus.h"
#include "hydracache/pg.h"

/* msg (libpq's, often several lines ending in a newline) as one line into
   out, each run of white space one space. */
void hc__one_line(char *out, size_t size, const char *msg);

/* The NOTIFY payload for m (a flush of m's cache when m's would reach the
   NOTIFY limit): HC_OK, HC_ENOMEM, HC_EINVAL, HC_ETOOBIG. */
int hc__bus_pg_payload(const hc_bus_msg *m, hc_buf *out);

#endif
