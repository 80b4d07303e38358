# The engine's commands: bad input gives one line and a non-zero exit.
metaids_cli_case(demo_unknown_option nonzero "^metaids: error: .*--bogus" demo --bogus)
metaids_cli_case(demo_k_larger_than_class nonzero "K \\+ queries = 45 exceeds the 40 rows" demo --synthetic-features --shots 30)
metaids_cli_case(demo_zero_shots nonzero "^metaids: error: .*shots" demo --shots 0)
metaids_cli_case(demo_too_many_ways nonzero "^metaids: error: .*ways" demo --synthetic-features --ways 100)
metaids_cli_case(demo_unknown_algorithm nonzero "unknown algorithm 'mamba'" demo --synthetic-features --algorithms mamba --iterations 1 --episodes 1)
metaids_cli_case(demo_runs 0 "protonet \\| 0\\.[0-9]+ ± " demo --synthetic-features --iterations 3 --episodes 5)
metaids_cli_case(demo_traffic_runs 0 "benign false-positive rate.*adaptation: 5 flows" demo --quick)
metaids_cli_case(demo_feature_option_needs_flag nonzero "--iterations applies to --synthetic-features" demo --iterations 3)
metaids_cli_case(demo_bad_new_family nonzero "--new-family must be an attack family" demo --new-family web)
metaids_cli_case(bench_meta_json 0 "\"algorithm\":\"maml\".*\"tasks_per_s\":[0-9.]+,\"tasks_per_s_median_step\":[0-9.]+" bench meta --seconds 0.05 --algorithms maml,protonet)
metaids_cli_case(bench_meta_bad_threads nonzero "^metaids: error: .*threads" bench meta --threads 0)
# --scaling: one line per algorithm with the two-thread speed-up; it needs two CPUs and decides
# the thread counts itself.
metaids_cli_case(bench_meta_scaling 0 "\"algorithm\":\"protonet\",\"cpus\":\\[[0-9]+,[0-9]+\\].*\"measure\":\"scaling\".*\"speedup\":[0-9.]+,\"speedup_median_step\":[0-9.]+" bench meta --scaling --seconds 0.05 --algorithms protonet)
metaids_cli_case(bench_meta_scaling_with_threads nonzero "^metaids: error: .*--scaling.*--threads|--threads.*--scaling" bench meta --scaling --threads 2)
find_program(METAIDS_TASKSET taskset)
if(METAIDS_TASKSET)
  add_test(NAME cli.bench_meta_scaling_one_cpu COMMAND ${CMAKE_COMMAND} -DBIN=${METAIDS_TASKSET}
    "-DARGS=-c 0 $<TARGET_FILE:metaids> bench meta --scaling --seconds 0.05" -DEXPECT_RC=nonzero
    "-DEXPECT_REGEX=^metaids: error: --scaling needs two CPUs to run on; this process may use 1" -P ${CMAKE_CURRENT_SOURCE_DIR}/expect.cmake)
endif()
