// A trained learner becomes a model users keep (model/model.h): the meta-parameters, the
// transform, the classes, reference flows per class drawn from the meta-train rows, held-out
// reference flows for calibration, and the provenance of the run.
//
//   model::Model m = build_model(data, split, trained, TaskKind::classification, options);
//   model::save("ids.mids", m);
//
// Detection keeps the classes {benign, ATTACK = every meta-train family pooled};
// classification {benign, each meta-train family}. Deterministic in the seed.
#pragma once

#include <cstdint>

#include "data/experiment.h"
#include "data/schema.h"
#include "eval/episodes.h"
#include "eval/learners.h"
#include "model/model.h"

namespace metaids::eval {

struct ModelBuildOptions {
  int support_per_class = 20;     // reference flows per class the learner adapts to
  int benign_reference = 600;     // held-out benign flows the alert threshold is set on
  int reference_per_class = 50;   // held-out flows per attack class (open-set calibration)
  double fpr = 0.01;              // false-positive rate of the alert threshold on them
  double unknown_rate = 0.01;     // share of held-out known-class flows called unknown
  std::uint64_t seed = 0;
};

model::Model build_model(const data::ExperimentData& data, const Split& split, const TrainedLearner& trained,
                         TaskKind task, const ModelBuildOptions& options);

// The schema the experiment config names (preset or file relative to the config).
data::DatasetSchema experiment_schema(const data::ExperimentConfig& config);

}  // namespace metaids::eval
