# serve, and detect's model follower: bad invocations give one line and exit 2 (usage) or 1.
metaids_cli_case(serve_no_state 2 "^metaids: error: --state DIR is required" serve)
metaids_cli_case(serve_bad_listen 2 "^metaids: error: --listen must be HOST:PORT" serve --state serve-state --listen 8080)
metaids_cli_case(serve_bad_port 2 "^metaids: error: --listen: '99999' is not a port" serve --state serve-state --listen 127.0.0.1:99999)
metaids_cli_case(serve_bad_sync 2 "^metaids: error: --sync must be 'background' or 'always'" serve --state serve-state --sync sometimes)
metaids_cli_case(serve_missing_token_file nonzero "^metaids: error: cannot read the token file no-such-token"
  serve --state serve-state --token-file no-such-token)
metaids_cli_case(serve_corrupt_model nonzero "metaids: error: .*corrupted.mids: model file is corrupted"
  serve --state serve-state-corrupt --model ${CMAKE_SOURCE_DIR}/tests/model/fixtures/corrupted.mids)
metaids_cli_case(detect_refresh_without_url 2 "^metaids: error: --refresh needs --model-url"
  detect --pcap ${CMAKE_SOURCE_DIR}/tests/data/flow/malformed.pcap --refresh 5)
metaids_cli_case(detect_model_url_not_http 2 "^metaids: error: --model-url must start with http:// or https://"
  detect --pcap ${CMAKE_SOURCE_DIR}/tests/data/flow/malformed.pcap --model-url ftp://host/)
metaids_cli_case(detect_model_url_with_calibrate_first 2 "^metaids: error: --model-url and --calibrate-first exclude each other"
  detect --pcap ${CMAKE_SOURCE_DIR}/tests/data/flow/malformed.pcap --model-url http://127.0.0.1:9 --calibrate-first 5)
