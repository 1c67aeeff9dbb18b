# SPDX-License-Identifier: Apache-2.0
# Building Eddy operator plugins; installed with Eddy and included by
# find_package(Eddy), also used by Eddy's own tree (plugins/, tests/plugins/).
#
#   find_package(Eddy REQUIRED)
#   eddy_add_plugin(my_plugin my_plugin.cc)
#
# builds lib<NAME>.so against Eddy::sdk and installs it to
# <prefix>/lib/eddy/plugins, where an eddy of the same prefix finds it by name.
include_guard(GLOBAL)
include(GNUInstallDirs)
set(_eddy_plugin_cmake_dir ${CMAKE_CURRENT_LIST_DIR})

# eddy_add_plugin(NAME [SOURCES] source... [NO_INSTALL])
function(eddy_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "" "SOURCES" ${ARGN})
  set(sources ${ARG_SOURCES} ${ARG_UNPARSED_ARGUMENTS})
  if(NOT sources)
    message(FATAL_ERROR "eddy_add_plugin(${name}): give its sources, e.g. eddy_add_plugin(${name} ${name}.cc)")
  endif()
  add_library(${name} MODULE ${sources})
  target_link_libraries(${name} PRIVATE Eddy::sdk)
  target_compile_features(${name} PRIVATE cxx_std_20)
  # Only the entry points that EDDY_PLUGIN() marks are exported, so two
  # plugins' inline and template code never interposes on each other's.
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    CXX_EXTENSIONS OFF
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(COMMAND eddy_target_options)  # Eddy's own tree: its warnings and sanitizers
    eddy_target_options(${name})
  endif()
  if(NOT EDDY_SANITIZE)
    # A symbol missing from the SDK is a link error here, not a load error later.
    target_link_options(${name} PRIVATE -Wl,--no-undefined)
  endif()
  if(EDDY_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${EDDY_PLUGIN_OUTPUT_DIR})
  endif()
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/eddy/plugins)
  endif()
endfunction()

# eddy_add_topology_test(NAME PLUGIN target TOPOLOGY file INPUT file EXPECTED file)
# A ctest test that runs `eddy run TOPOLOGY` with the plugin's directory in
# EDDY_PLUGIN_PATH, EDDY_INPUT set to INPUT and EDDY_OUTPUT to a file in the
# build tree, and passes when that file equals EXPECTED line for line.
function(eddy_add_topology_test name)
  cmake_parse_arguments(ARG "" "PLUGIN;TOPOLOGY;INPUT;EXPECTED" "" ${ARGN})
  foreach(arg PLUGIN TOPOLOGY INPUT EXPECTED)
    if(NOT ARG_${arg})
      message(FATAL_ERROR "eddy_add_topology_test(${name}): ${arg} is missing")
    endif()
  endforeach()
  if(NOT EDDY_EXECUTABLE)
    message(FATAL_ERROR "eddy_add_topology_test(${name}): EDDY_EXECUTABLE is not set (find_package(Eddy) sets it)")
  endif()
  get_filename_component(topology ${ARG_TOPOLOGY} ABSOLUTE)
  get_filename_component(input ${ARG_INPUT} ABSOLUTE)
  get_filename_component(expected ${ARG_EXPECTED} ABSOLUTE)
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND}
      -DEDDY=${EDDY_EXECUTABLE}
      -DPLUGIN_DIR=$<TARGET_FILE_DIR:${ARG_PLUGIN}>
      -DTOPOLOGY=${topology}
      -DINPUT=${input}
      -DEXPECTED=${expected}
      -DOUTPUT=${CMAKE_CURRENT_BINARY_DIR}/${name}.out.jsonl
      -P ${_eddy_plugin_cmake_dir}/EddyRunTopologyTest.cmake)
endfunction()
