# SPDX-License-Identifier: Apache-2.0
# Target helpers: per-target warnings and sanitizers, no directory-scope flags.

function(eddy_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  # GCC 12 reports false -Wrestrict overlaps inside libstdc++'s string
  # concatenation at -O2 and above (GCC bug 105329); it cannot be silenced locally.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(EDDY_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(EDDY_SANITIZE)
    string(REPLACE ";" "," san "${EDDY_SANITIZE}")
    target_compile_options(${target} PRIVATE -fsanitize=${san} -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${san})
  endif()
endfunction()

# eddy_add_library(NAME SOURCES ... DEPS ...): target eddy_<name>, alias eddy::<name>.
function(eddy_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(eddy_${name} STATIC ${ARG_SOURCES})
  add_library(eddy::${name} ALIAS eddy_${name})
  target_include_directories(eddy_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/engine/include>
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/engine/src>)
  target_link_libraries(eddy_${name} PUBLIC ${ARG_DEPS})
  set_target_properties(eddy_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  eddy_target_options(eddy_${name})
endfunction()

# Sanitizer link flags must reach executables too.
function(eddy_add_executable name)
  cmake_parse_arguments(ARG "" "OUTPUT_NAME" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  eddy_target_options(${name})
  if(ARG_OUTPUT_NAME)
    set_target_properties(${name} PROPERTIES OUTPUT_NAME ${ARG_OUTPUT_NAME})
  endif()
endfunction()
