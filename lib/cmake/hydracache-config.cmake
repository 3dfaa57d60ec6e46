# hydracache-config.cmake -- the CMake package of an installed HydraCache
# for C (PREFIX/lib/cmake/hydracache), for find_package(hydracache):
#
#   find_package(hydracache 0.2 REQUIRED)
#   add_executable(app app.c)
#   hydracache_generate(TARGET app HCACHE shop.hcache SCHEMA schema.sql)
#   target_link_libraries(app PRIVATE hydracache::sqlite SQLite::SQLite3)
#
# Imported targets, one per library (an application lists the ones it
# calls, as with the pkg-config modules of the same names):
#   hydracache::hydracache  libhydracache, the in-process cache and what
#                           generated code needs (hydracache.h)
#   hydracache::sqlite      libhydracache-sqlite, hc_db_sqlite
#   hydracache::pg          libhydracache-pg, hc_db_pg and the PostgreSQL
#                           invalidation bus
#   hydracache::observability  libhydracache-observability: the registry,
#                           JSON and Prometheus documents, the HTTP actuator
#   hydracache::hcachegen   the generator, an imported executable
# Each adapter brings hydracache::hydracache with it. The application links
# SQLite or libpq itself when it calls them (it opens the connection): the
# headers only name their connection types. With hydracache_USE_STATIC_LIBS
# set before find_package, the targets are the static archives, and bring
# what those need (Threads, libm, SQLite3, PostgreSQL, libmicrohttpd and
# jansson).
#
# Components (find_package(hydracache REQUIRED COMPONENTS sqlite pg)):
# core, sqlite, pg, observability; hydracache_<component>_FOUND says which
# were found.
#
# hydracache_generate(), from hydracache-generate.cmake beside this file,
# runs hcachegen at build time.

cmake_policy(PUSH)
cmake_policy(VERSION 3.20...3.28)

get_filename_component(_hydracache_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(hydracache_INCLUDE_DIR "${_hydracache_prefix}/include")
set(hydracache_LIBRARY_DIR "${_hydracache_prefix}/lib")
set(hydracache_HCACHEGEN "${_hydracache_prefix}/bin/hcachegen")

include(CMakeFindDependencyMacro)
find_dependency(Threads)
if(hydracache_USE_STATIC_LIBS)
  set(_hydracache_kind STATIC)
  set(_hydracache_suffix ".a")
else()
  set(_hydracache_kind SHARED)
  # The soname link, so that a program records the library's soname and
  # finds any later release of the same ABI series: lib<name>.so.0.MINOR in
  # 0.x (a minor release may break the ABI), lib<name>.so.MAJOR from 1.0 on.
  # find_package set hydracache_VERSION_* from the version file.
  if(hydracache_VERSION_MAJOR EQUAL 0)
    set(_hydracache_suffix ".so.0.${hydracache_VERSION_MINOR}")
  else()
    set(_hydracache_suffix ".so.${hydracache_VERSION_MAJOR}")
  endif()
endif()

# _hydracache_import(TARGET LIBRARY [INTERFACE_LINK...]): one imported
# library under PREFIX/lib.
function(_hydracache_import target library)
  set(file "${hydracache_LIBRARY_DIR}/lib${library}${_hydracache_suffix}")
  if(NOT EXISTS "${file}")
    set(hydracache_FOUND FALSE PARENT_SCOPE)
    set(hydracache_NOT_FOUND_MESSAGE "${file} is missing" PARENT_SCOPE)
    return()
  endif()
  if(NOT TARGET ${target})
    add_library(${target} ${_hydracache_kind} IMPORTED)
    set_target_properties(${target} PROPERTIES
      IMPORTED_LOCATION "${file}"
      INTERFACE_INCLUDE_DIRECTORIES "${hydracache_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${ARGN}")
    if(_hydracache_kind STREQUAL "SHARED")
      set_target_properties(${target} PROPERTIES IMPORTED_SONAME "lib${library}${_hydracache_suffix}")
    endif()
  endif()
endfunction()

if(hydracache_USE_STATIC_LIBS)
  find_dependency(SQLite3)
  find_dependency(PostgreSQL)
  _hydracache_import(hydracache::hydracache hydracache Threads::Threads m)
  _hydracache_import(hydracache::sqlite hydracache-sqlite hydracache::hydracache SQLite::SQLite3)
  _hydracache_import(hydracache::pg hydracache-pg hydracache::hydracache PostgreSQL::PostgreSQL)
  _hydracache_import(hydracache::observability hydracache-observability hydracache::hydracache
                     microhttpd jansson)
else()
  _hydracache_import(hydracache::hydracache hydracache Threads::Threads)
  _hydracache_import(hydracache::sqlite hydracache-sqlite hydracache::hydracache)
  _hydracache_import(hydracache::pg hydracache-pg hydracache::hydracache)
  _hydracache_import(hydracache::observability hydracache-observability hydracache::hydracache)
endif()

if(NOT TARGET hydracache::hcachegen)
  add_executable(hydracache::hcachegen IMPORTED)
  set_target_properties(hydracache::hcachegen PROPERTIES IMPORTED_LOCATION "${hydracache_HCACHEGEN}")
endif()

set(hydracache_core_FOUND TRUE)
set(hydracache_sqlite_FOUND TRUE)
set(hydracache_pg_FOUND TRUE)
set(hydracache_observability_FOUND TRUE)
foreach(_hydracache_c IN LISTS hydracache_FIND_COMPONENTS)
  if(NOT hydracache_${_hydracache_c}_FOUND)
    set(hydracache_${_hydracache_c}_FOUND FALSE)
    if(hydracache_FIND_REQUIRED_${_hydracache_c})
      set(hydracache_FOUND FALSE)
      set(hydracache_NOT_FOUND_MESSAGE "no component '${_hydracache_c}' (there are core, sqlite, pg, observability)")
    endif()
  endif()
endforeach()

include("${CMAKE_CURRENT_LIST_DIR}/hydracache-generate.cmake")

unset(_hydracache_c)
unset(_hydracache_kind)
unset(_hydracache_suffix)
unset(_hydracache_prefix)
cmake_policy(POP)
