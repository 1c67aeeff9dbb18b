# SPDX-License-Identifier: Apache-2.0
# Run by eddy_add_topology_test() as `cmake -P`: runs a topology and compares
# its output with the expected file.
file(REMOVE ${OUTPUT})
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env EDDY_PLUGIN_PATH=${PLUGIN_DIR} EDDY_INPUT=${INPUT}
          EDDY_OUTPUT=${OUTPUT} ${EDDY} run --no-progress ${TOPOLOGY}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "eddy run ${TOPOLOGY} failed (exit ${result}):\n${out}${err}")
endif()
file(STRINGS ${OUTPUT} got)
file(STRINGS ${EXPECTED} want)
if(NOT got STREQUAL want)
  string(REPLACE ";" "\n" got_text "${got}")
  string(REPLACE ";" "\n" want_text "${want}")
  message(FATAL_ERROR "${OUTPUT} differs from ${EXPECTED}\nexpected:\n${want_text}\ngot:\n${got_text}")
endif()
message(STATUS "ok: ${OUTPUT} equals ${EXPECTED}")
