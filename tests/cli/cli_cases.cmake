# metaids_cli_case(NAME RC REGEX ARGS...): one command-line expectation (RC: number or nonzero).
function(metaids_cli_case name rc regex)
  string(REPLACE ";" " " joined "${ARGN}")
  add_test(NAME cli.${name} COMMAND ${CMAKE_COMMAND} -DBIN=$<TARGET_FILE:metaids> "-DARGS=${joined}"
    -DEXPECT_RC=${rc} "-DEXPECT_REGEX=${regex}" -P ${CMAKE_CURRENT_SOURCE_DIR}/expect.cmake)
  set_tests_properties(cli.${name} PROPERTIES WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endfunction()
file(GLOB METAIDS_CLI_CASE_FILES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cases_*.cmake)
foreach(f ${METAIDS_CLI_CASE_FILES})
  include(${f})
endforeach()
