# Command-line expectations of experiment, train, eval, adapt and predict (src/cli/cmd_*.cpp of
# the eval stage): bad input gives one line "metaids: error: ..." and a non-zero exit.
metaids_cli_case(experiment_missing_config nonzero "^metaids: error: .*no-such-config"
  experiment --config ${CMAKE_SOURCE_DIR}/no-such-config.json --data ${CMAKE_SOURCE_DIR} --out experiment-out)
metaids_cli_case(experiment_missing_data_dir nonzero "^metaids: error: data directory .* does not exist"
  experiment --config ${CMAKE_SOURCE_DIR}/configs/cicids2017.json --data /no/such/data --out experiment-out)
metaids_cli_case(experiment_bad_seeds nonzero "^metaids: error: bad seeds"
  experiment --config ${CMAKE_SOURCE_DIR}/configs/cicids2017.json --data ${CMAKE_SOURCE_DIR} --out experiment-out --seeds 0,x)
metaids_cli_case(experiment_requires_out nonzero "^metaids: error: .*--out"
  experiment --config ${CMAKE_SOURCE_DIR}/configs/cicids2017.json)
metaids_cli_case(train_unknown_algorithm nonzero "^metaids: error: unknown algorithm 'magic'"
  train --config ${CMAKE_SOURCE_DIR}/configs/cicids2017.json --data ${CMAKE_SOURCE_DIR} --algorithm magic --out m.mids)
metaids_cli_case(train_unknown_task nonzero "^metaids: error: unknown task 'sorting'"
  train --config ${CMAKE_SOURCE_DIR}/configs/cicids2017.json --data ${CMAKE_SOURCE_DIR} --algorithm maml --task sorting --out m.mids)
metaids_cli_case(train_resume_needs_checkpoint nonzero "^metaids: error: --resume needs --checkpoint"
  train --config ${CMAKE_SOURCE_DIR}/configs/cicids2017.json --algorithm maml --out m.mids --resume)
metaids_cli_case(eval_missing_model nonzero "^metaids: error: .*no-such-model.mids"
  eval --model no-such-model.mids --config ${CMAKE_SOURCE_DIR}/configs/cicids2017.json --data ${CMAKE_SOURCE_DIR})
metaids_cli_case(predict_missing_model nonzero "^metaids: error: .*no-such-model.mids"
  predict --model no-such-model.mids --input flows.csv)
metaids_cli_case(predict_not_a_model nonzero "^metaids: error: .*cicids2017.json"
  predict --model ${CMAKE_SOURCE_DIR}/configs/cicids2017.json --input flows.csv)
metaids_cli_case(predict_bad_format nonzero "^metaids: error: --format must be csv or jsonl"
  predict --model m.mids --input flows.csv --format xml)
metaids_cli_case(predict_requires_input nonzero "^metaids: error: .*--input"
  predict --model m.mids)
metaids_cli_case(adapt_requires_support nonzero "^metaids: error: give exactly one source of labelled flows"
  adapt --model m.mids --out adapted.mids)
metaids_cli_case(adapt_missing_model nonzero "^metaids: error: .*no-such-model.mids"
  adapt --model no-such-model.mids --support flows.csv --out adapted.mids)
metaids_cli_case(train_zero_iterations nonzero "^metaids: error: --iterations" train --config cfg.json --algorithm maml --out m.mids --iterations 0)
