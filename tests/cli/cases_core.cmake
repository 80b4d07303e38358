# The binary itself: one exit code per kind of failure (src/core/error.h: 0 success, --help and
# --version; 1 an error while running; 2 a usage error), error lines with untrusted bytes
# escaped, and outputs that never destroy what is at the path (docs/outputs.md).
set(CORE_FLOW_DATA ${CMAKE_SOURCE_DIR}/tests/data/flow)

# Every kind of usage error CLI11 reports (it used codes 105, 106, 108, 109, 114...) exits 2.
metaids_cli_case(usage_no_command 2 "^metaids: error: .*subcommand.*\\(see --help\\)")
metaids_cli_case(usage_unknown_option 2 "^metaids: error: .*--no-such-option" --no-such-option)
metaids_cli_case(usage_unknown_command 2 "^metaids: error: 'frobnicate' is not a command or option of metaids \\(see --help\\)" frobnicate)
metaids_cli_case(usage_unknown_benchmark 2 "^metaids: error: 'nosuch' is not a command or option of metaids bench" bench nosuch)
metaids_cli_case(usage_value_not_allowed 2 "^metaids: error: .*xml" flows --format xml)
metaids_cli_case(usage_value_missing 2 "^metaids: error: .*--pcap" flows --pcap)
metaids_cli_case(usage_value_not_a_number 2 "^metaids: error: .*many" flows --max-flows many)
metaids_cli_case(usage_stray_argument 2 "^metaids: error: .*stray" flows stray)
metaids_cli_case(usage_required_option 2 "^metaids: error: .*--out" synth)
metaids_cli_case(usage_excluded_options 2 "^metaids: error: .*excludes" synth --out usage.pcap --packets 10 --sessions 10)
metaids_cli_case(usage_out_of_range 2 "^metaids: error: .*packets" synth --out usage.pcap --packets 0)
metaids_cli_case(usage_bench_needs_a_benchmark 2 "^metaids: error:" bench)
metaids_cli_case(help_exits_0 0 "Exit status: 0 success, 1 error while running, 2 usage error" --help)
metaids_cli_case(command_help_exits_0 0 "--pcap" flows --help)
metaids_cli_case(version_exits_0 0 "^metaids 0\\.1\\.0" --version)
metaids_cli_case(runtime_error_exits_1 1 "^metaids: error: cannot read capture /no/such/file.pcap" flows --pcap /no/such/file.pcap)

# Bytes from the command line or a file reach the error line escaped, never raw.
function(metaids_cli_case_escaped name rc regex)
  string(REPLACE ";" " " joined "${ARGN}")
  add_test(NAME cli.${name} COMMAND ${CMAKE_COMMAND} -DBIN=$<TARGET_FILE:metaids> "-DARGS=${joined}"
    -DEXPECT_RC=${rc} "-DEXPECT_REGEX=${regex}" -DEXPECT_ESCAPED=ON -P ${CMAKE_CURRENT_SOURCE_DIR}/expect.cmake)
  set_tests_properties(cli.${name} PROPERTIES WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endfunction()
metaids_cli_case_escaped(error_escapes_control_bytes 1 "cannot read capture /no/such\\\\x1b\\[31mfile.pcap"
  flows --pcap /no/such<ESC>[31mfile.pcap)
metaids_cli_case_escaped(usage_error_escapes_control_bytes 2 "--x\\\\x1b\\[2Jcleared" --x<ESC>[2Jcleared)

# Outputs: a character device at --out is written, never replaced (run as root, a private
# node stands in for /dev/null; see expect.cmake); "-" is standard output.
metaids_cli_case(flows_out_null_device_stays_a_device 0 "flows=1" flows --pcap ${CORE_FLOW_DATA}/malformed.pcap --out <NULL_DEVICE>)
set_tests_properties(cli.flows_out_null_device_stays_a_device PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED:")
metaids_cli_case(synth_out_null_device_stays_a_device 0 "250 packets" synth --out <NULL_DEVICE> --packets 250)
set_tests_properties(cli.synth_out_null_device_stays_a_device PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED:")
metaids_cli_case(flows_out_dash_is_standard_output 0 "^Flow ID,Src IP" flows --pcap ${CORE_FLOW_DATA}/malformed.pcap --out -)
