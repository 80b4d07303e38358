// A trained model as a user keeps it: meta-parameters, the transform, the classes it knows and
// a few labelled reference flows per class (the "support"), in one model file
// (model/model_file.h). Prediction adapts the meta-parameters to the stored support the same
// way an FSND-1 episode does, so a model predicts exactly what it was evaluated as.
//
//   DeployedModel m = build_deployed_model(data, trained, TaskKind::detection, ...);
//   model::save_model("ids.mids", to_model_file(m));
//   DeployedModel back = from_model_file(model::load_model("ids.mids"));
//   Prediction p = predict(back, back.transform.apply(table));   // class and score per row
//   add_support(back, new_rows, new_labels);                       // `metaids adapt`
//
// Adapting to classes the network was not meta-trained with (more classes than its `ways`
// outputs, as after `metaids adapt` adds one):
//   ProtoNet     one prototype per class: the new class is one more prototype
//   gradient     the output layer is widened to one row per class, the new rows starting at
//   learners     the mean of the meta-learned output rows (their biases too; for Meta-SGD the
//                learned step sizes of the new rows are the mean of the output rows' ones),
//                then the learner's inner SGD (its own step sizes) runs on the whole stored
//                support: the new class's flows AND the reference flows of the classes already
//                known, so the model still separates benign from the old attacks. With more
//                classes than meta-trained outputs it runs at least 100 steps on a
//                class-balanced support (a class's flows repeated up to the largest count).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/experiment.h"
#include "data/schema.h"
#include "data/transform.h"
#include "eval/episodes.h"
#include "eval/learners.h"
#include "model/model_file.h"

namespace metaids::eval {

struct DeployedModel {
  meta::LearnerConfig config;
  Vector<float> phi;
  std::string task = "detection";          // detection | classification
  std::vector<std::string> class_names;    // index = predicted class; 0 is benign
  Matrix<float> support_x;                 // transformed reference flows (features × n)
  std::vector<int> support_y;              // class index of each column
  data::FeatureTransform transform;
  data::DatasetSchema schema;
  nlohmann::json header = nlohmann::json::object();  // everything else recorded (hyperparameters, metrics, hash)
};

// Reference flows per class drawn from the meta-train rows (deterministic in seed): detection
// keeps {benign, ATTACK = every meta-train family pooled}; classification {benign, each
// meta-train family}.
DeployedModel build_deployed_model(const data::ExperimentData& data, const Split& split, const TrainedLearner& trained,
                                   TaskKind task, int support_per_class, std::uint64_t seed);

model::ModelFile to_model_file(const DeployedModel& model);
DeployedModel from_model_file(const model::ModelFile& file);

// Logits (classes × n) of transformed rows x (features × n).
Matrix<float> deployed_logits(const DeployedModel& model, const Matrix<float>& x);

struct Prediction {
  std::vector<int> predicted;        // class index
  std::vector<double> score;         // softmax probability of the predicted class
  std::vector<double> attack_score;  // 1 − P(benign)
};
Prediction predict(const DeployedModel& model, const data::FeatureMatrix& rows);

// Adds labelled transformed rows (row-major, rows × features) to the support; labels that are
// not yet known become new classes (appended). Returns the names of the classes added.
std::vector<std::string> add_support(DeployedModel& model, const data::FeatureMatrix& rows,
                                     const std::vector<std::string>& labels);

// The schema the experiment config names (preset or file relative to the config).
data::DatasetSchema experiment_schema(const data::ExperimentConfig& config);

}  // namespace metaids::eval
