# detect, calibrate and adapt: bad input gives one clear line and a non-zero exit.
set(DETECT_DATA ${CMAKE_SOURCE_DIR}/tests/data/detect)
set(FLOW_DATA ${CMAKE_SOURCE_DIR}/tests/data/flow)
set(MODEL_FIXTURES ${CMAKE_SOURCE_DIR}/tests/model/fixtures)
metaids_cli_case(detect_no_source 2 "^metaids: error: give exactly one source" detect)
metaids_cli_case(detect_two_sources 2 "^metaids: error: give exactly one source"
  detect --pcap ${FLOW_DATA}/malformed.pcap --flows ${DETECT_DATA}/missing_columns.csv)
metaids_cli_case(detect_missing_capture nonzero "^metaids: error: cannot read capture .*no-such.pcap" detect --pcap no-such.pcap)
metaids_cli_case(detect_bad_bpf nonzero "^metaids: error: bad BPF filter 'tcp and and'.*syntax error"
  detect --pcap ${FLOW_DATA}/malformed.pcap --bpf \"tcp and and\")
metaids_cli_case(detect_corrupt_model nonzero "^metaids: error: .*corrupted.mids: model file is corrupted"
  detect --model ${MODEL_FIXTURES}/corrupted.mids --pcap ${FLOW_DATA}/malformed.pcap)
metaids_cli_case(detect_truncated_model nonzero "^metaids: error: .*truncated"
  detect --model ${MODEL_FIXTURES}/truncated.mids --pcap ${FLOW_DATA}/malformed.pcap)
metaids_cli_case(detect_model_that_cannot_score nonzero "^metaids: error: .*valid-v1.mids: .*(learner configuration|lacks)"
  detect --model ${MODEL_FIXTURES}/valid-v1.mids --pcap ${FLOW_DATA}/malformed.pcap)
metaids_cli_case(detect_unwritable_output nonzero "^metaids: error: cannot open /no-such-dir/eve.json for alerts"
  detect --pcap ${FLOW_DATA}/malformed.pcap --out /no-such-dir/eve.json)
metaids_cli_case(detect_flows_missing_columns nonzero "^metaids: error: .*missing_columns.csv lacks [0-9]+ column.*Total Fwd Packet"
  detect --flows ${DETECT_DATA}/missing_columns.csv)
metaids_cli_case(detect_fpr_and_threshold 2 "^metaids: error: give --fpr or --threshold, not both"
  detect --pcap ${FLOW_DATA}/malformed.pcap --fpr 0.01 --threshold 1)
metaids_cli_case(detect_bad_fpr nonzero "^metaids: error: --fpr must be in \\(0, 1\\)"
  detect --pcap ${FLOW_DATA}/malformed.pcap --fpr 2)
metaids_cli_case(detect_calibrate_first_needs_packets 2 "^metaids: error: --calibrate-first needs packets"
  detect --flows ${DETECT_DATA}/missing_columns.csv --calibrate-first 10)
metaids_cli_case(detect_reads_a_capture 0 "detect: flows=[0-9]+ alerts="
  detect --pcap ${FLOW_DATA}/malformed.pcap --out /dev/null)
metaids_cli_case(detect_reads_a_capture_on_one_thread 0 "detect: flows=[0-9]+ alerts="
  detect --pcap ${FLOW_DATA}/malformed.pcap --threads 1 --out /dev/null)
metaids_cli_case(detect_bad_threads 2 "^metaids: error: --threads: Value 3 not in range 1 to 2"
  detect --pcap ${FLOW_DATA}/malformed.pcap --threads 3)
# A full disk: the scoring thread's failed write reaches main as one line and a non-zero exit.
metaids_cli_case(detect_full_disk nonzero "^metaids: error: cannot write alerts to /dev/full: No space left on device"
  detect --pcap ${FLOW_DATA}/malformed.pcap --all-flows --quiet --out /dev/full)
metaids_cli_case(detect_full_disk_one_thread nonzero "^metaids: error: cannot write alerts to /dev/full: No space left on device"
  detect --pcap ${FLOW_DATA}/malformed.pcap --all-flows --threads 1 --quiet --out /dev/full)
metaids_cli_case(detect_reads_a_capture_with_a_filter 0 "detect: flows=[0-9]+ alerts="
  detect --pcap ${FLOW_DATA}/malformed.pcap --bpf \"udp or tcp\" --out /dev/null)
metaids_cli_case(calibrate_no_source 2 "^metaids: error: give exactly one source of the site's traffic"
  calibrate --out m.mids)
metaids_cli_case(calibrate_interface_needs_duration 2 "^metaids: error: --interface needs --duration"
  calibrate --interface lo --out m.mids)
metaids_cli_case(calibrate_too_few_flows nonzero "^metaids: error: calibration needs at least 2 flows"
  calibrate --pcap ${FLOW_DATA}/malformed.pcap --bpf \"host 192.0.2.99\" --out m.mids)
metaids_cli_case(adapt_pcap_needs_select 2 "^metaids: error: --pcap needs --select"
  adapt --pcap ${FLOW_DATA}/malformed.pcap --label X --out a.mids)
metaids_cli_case(adapt_empty_selection nonzero "^metaids: error: no flows in .*malformed.pcap match 'host 192.0.2.99'"
  adapt --pcap ${FLOW_DATA}/malformed.pcap --select \"host 192.0.2.99\" --label X --out a.mids)
metaids_cli_case(adapt_bad_selection nonzero "^metaids: error: bad BPF filter 'port port'"
  adapt --pcap ${FLOW_DATA}/malformed.pcap --select \"port port\" --label X --out a.mids)
metaids_cli_case(adapt_eve_without_ids 2 "^metaids: error: --eve and --flow-id go together"
  adapt --eve ${DETECT_DATA}/other.eve.json --label X --out a.mids)
metaids_cli_case(adapt_eve_unknown_id nonzero "^metaids: error: .*other.eve.json: no record of flow id\\(s\\) 2 \\(1 malformed lines skipped\\)"
  adapt --eve ${DETECT_DATA}/other.eve.json --flow-id 2 --label X --out a.mids)
metaids_cli_case(adapt_reserved_label nonzero "^metaids: error: 'unknown' is reserved"
  adapt --flows ${DETECT_DATA}/missing_columns.csv --label unknown --out a.mids)
metaids_cli_case(adapt_bad_time nonzero "^metaids: error: --from must be a UTC time"
  adapt --pcap ${FLOW_DATA}/malformed.pcap --select tcp --from yesterday --label X --out a.mids)
metaids_cli_case(bench_detect_smoke 0 "\"part\":\"pcap_to_alerts\",\"trace\":\"syn_flood\""
  bench detect --packets 2000 --rounds 1 --seconds 0.05)
