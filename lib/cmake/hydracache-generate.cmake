# hydracache-generate.cmake -- hydracache_generate(), included by
# hydracache-config.cmake.
#
#   hydracache_generate(TARGET <target>
#                       HCACHE <file.hcache>...
#                       [SCHEMA <schema.sql>]
#                       [OUTPUT_DIRECTORY <dir>]
#                       [OPTIONS <hcachegen option>...])
#
# For each FILE.hcache (relative to the current source directory), runs
# hcachegen at build time to write FILE.hc.c and FILE.hc.h into
# OUTPUT_DIRECTORY (default: hcachegen/ in the current binary directory),
# adds both to TARGET's sources and the directory to its include path, so
# that the target's own sources #include "FILE.hc.h". SCHEMA checks every
# statement against that SQL file (hcachegen --schema); OPTIONS are more
# hcachegen options (--no-line, --pg-check CONNINFO).
#
# hcachegen writes a dependency file (the .hcache, the schema, hcachegen
# itself), given to add_custom_command as DEPFILE, so that editing any of
# them regenerates, with the Makefile generators and with Ninja alike. It
# leaves an output whose content would not change alone, and touches a
# stamp file instead, which is the command's first output; under Ninja (its
# restat) what includes an unchanged output is then not rebuilt.
function(hydracache_generate)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "TARGET;SCHEMA;OUTPUT_DIRECTORY" "HCACHE;OPTIONS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "hydracache_generate: unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_TARGET OR NOT TARGET "${arg_TARGET}")
    message(FATAL_ERROR "hydracache_generate: TARGET must name an existing target ('${arg_TARGET}')")
  endif()
  if(NOT arg_HCACHE)
    message(FATAL_ERROR "hydracache_generate: no HCACHE file given")
  endif()
  if(arg_OUTPUT_DIRECTORY)
    get_filename_component(out "${arg_OUTPUT_DIRECTORY}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  else()
    set(out "${CMAKE_CURRENT_BINARY_DIR}/hcachegen")
  endif()
  file(MAKE_DIRECTORY "${out}")
  set(schema_args "")
  if(arg_SCHEMA)
    get_filename_component(schema "${arg_SCHEMA}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    set(schema_args --schema "${schema}")
  endif()
  get_target_property(gen hydracache::hcachegen IMPORTED_LOCATION)

  foreach(hcache IN LISTS arg_HCACHE)
    get_filename_component(src "${hcache}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    get_filename_component(name "${src}" NAME)
    string(REGEX REPLACE "\\.hcache$" "" stem "${name}")
    set(c "${out}/${stem}.hc.c")
    set(h "${out}/${stem}.hc.h")
    set(stamp "${out}/${stem}.hc.stamp")
    set(dep "${out}/${stem}.hc.d")
    add_custom_command(
      OUTPUT "${stamp}" "${c}" "${h}"
      COMMAND "${gen}" ${schema_args} ${arg_OPTIONS} --stamp "${stamp}" --depfile "${dep}" -o "${out}" "${src}"
      DEPENDS "${src}" "${gen}"
      DEPFILE "${dep}"
      COMMENT "hcachegen ${hcache}"
      VERBATIM)
    target_sources(${arg_TARGET} PRIVATE "${c}" "${h}")
  endforeach()
  target_include_directories(${arg_TARGET} PRIVATE "${out}")
endfunction()
