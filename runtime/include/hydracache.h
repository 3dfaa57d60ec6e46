/*
** hydracache.h -- the one include for applications using HydraCache for C.
**
** It includes every part of the public interface:
**   hydracache/core.h    the cache, events, stats, the bus as an application
**                        uses it, the database handle (libhydracache)
**   hydracache/gen.h     what generated code needs: codec, statements, exec
**   hydracache/bus.h     for authors of invalidation transports
**   hydracache/sqlite.h  hc_db_sqlite (libhydracache-sqlite)
**   hydracache/pg.h      hc_db_pg, hc_bus_pg_new (libhydracache-pg)
**   hydracache/observability.h  the registry, JSON, Prometheus, the HTTP
**                        actuator (libhydracache-observability)
** Each part can be included on its own. Declaring a function links nothing:
** link the libraries of the parts you call (pkg-config hydracache,
** hydracache-sqlite, hydracache-pg, hydracache-observability).
*/
#ifndef HYDRACACHE_H
#define HYDRACACHE_H

#include "hydracache/core.h"
#include "hydracache/gen.h"
#include "hydracache/bus.h"
#include "hydracache/sqlite.h"
#include "hydracache/pg.h"
#include "hydracache/observability.h"

#endif /* HYDRACACHE_H */
