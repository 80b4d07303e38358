#include "eval/deploy.h"

#include <gtest/gtest.h>

#include "common/shared_data.h"
#include "core/error.h"
#include "data/loaders.h"
#include "eval/experiment.h"
#include "model/model_file.h"
#include "synthetic_flows.h"

namespace metaids::eval {
namespace {

MetaTrainingOptions quick_training() {
  MetaTrainingOptions o;
  o.iterations = 40;
  o.meta_batch = 4;
  o.validate_every = 20;
  o.validation_episodes = 10;
  o.threads = 2;
  return o;
}

struct Fixture {
  test::TempDir dir;
  data::ExperimentData data;
  Split split;
  Fixture() {
    test::write_synthetic_flows(dir);
    data = data::prepare_experiment(data::load_experiment_config(dir.path() / "config.json"), dir.path());
    split = make_split(data);
  }
  DeployedModel train(meta::Algorithm algorithm, TaskKind task) const {
    const TrainedLearner trained = train_meta_learner(split, algorithm, task, 5, 5, 0, quick_training());
    return build_deployed_model(data, split, trained, task, 10, 0);
  }
  // The raw rows of one label, transformed.
  data::FeatureMatrix rows_of(const std::string& label) const {
    const data::FeatureTable table = data::load_dataset(dir.path() / "flows.csv", experiment_schema(data.config));
    const auto rows = table.rows_of_class(label);
    return data.transform.apply(table.select_rows(rows));
  }
};

TEST(Deploy, SaveLoadPredictIsBitIdentical) {
  Fixture f;
  for (meta::Algorithm algorithm : {meta::Algorithm::protonet, meta::Algorithm::maml, meta::Algorithm::metasgd}) {
    const DeployedModel model = f.train(algorithm, TaskKind::detection);
    const auto path = f.dir.path() / "model.mids";
    model::save_model(path, to_model_file(model));
    const DeployedModel back = from_model_file(model::load_model(path));
    EXPECT_EQ(back.class_names, (std::vector<std::string>{"BENIGN", "ATTACK"}));
    const data::FeatureMatrix x = f.data.meta_test_x;
    const Prediction a = predict(model, x), b = predict(back, x);
    EXPECT_EQ(a.predicted, b.predicted) << meta::to_string(algorithm);
    EXPECT_EQ(a.score, b.score) << meta::to_string(algorithm);
    EXPECT_EQ(a.attack_score, b.attack_score) << meta::to_string(algorithm);
  }
}

TEST(Deploy, WithoutNewClassesPredictionEqualsTheLearnersOwnAdaptation) {
  Fixture f;
  const TrainedLearner trained = train_meta_learner(f.split, meta::Algorithm::maml, TaskKind::detection, 2, 5, 0, quick_training());
  const DeployedModel model = build_deployed_model(f.data, f.split, trained, TaskKind::detection, 10, 0);
  Task<float> task;
  task.ways = 2;
  task.support = {model.support_x, model.support_y};
  task.query.x = f.data.meta_test_x.topRows(50).transpose();
  task.query.y.assign(50, 0);
  meta::Scratch<float> scratch;
  const Matrix<float> expected = adapted_logits(*trained.learner, trained.phi, task, scratch);
  EXPECT_TRUE(deployed_logits(model, task.query.x).isApprox(expected, 1e-5f));
}

TEST(Deploy, AdaptAddsAClassAndDetectsIt) {
  Fixture f;
  for (meta::Algorithm algorithm : {meta::Algorithm::protonet, meta::Algorithm::maml}) {
    DeployedModel model = f.train(algorithm, TaskKind::detection);
    const data::FeatureMatrix t1 = f.rows_of("T1");
    const data::FeatureMatrix support = t1.topRows(5);
    const auto added = add_support(model, support, std::vector<std::string>(5, "T1"));
    EXPECT_EQ(added, (std::vector<std::string>{"T1"}));
    ASSERT_EQ(model.class_names.size(), 3u);
    // Survives a save/load.
    model::save_model(f.dir.path() / "adapted.mids", to_model_file(model));
    const DeployedModel back = from_model_file(model::load_model(f.dir.path() / "adapted.mids"));
    const Prediction held_out = predict(back, t1.bottomRows(t1.rows() - 5));
    int as_t1 = 0;
    for (int c : held_out.predicted) as_t1 += c == 2 ? 1 : 0;
    EXPECT_GT(as_t1, static_cast<int>(held_out.predicted.size()) * 8 / 10) << meta::to_string(algorithm);
    const Prediction benign = predict(back, f.rows_of("BENIGN").bottomRows(100));
    int as_benign = 0;
    for (int c : benign.predicted) as_benign += c == 0 ? 1 : 0;
    EXPECT_GT(as_benign, 80) << meta::to_string(algorithm);
  }
}

TEST(Deploy, CorruptOrForeignModelsAreRejected) {
  Fixture f;
  const DeployedModel model = f.train(meta::Algorithm::protonet, TaskKind::classification);
  model::ModelFile file = to_model_file(model);
  file.tensors[0].values.pop_back();
  EXPECT_THROW(from_model_file(file), Error);
  file = to_model_file(model);
  file.header.erase("task");
  EXPECT_THROW(from_model_file(file), Error);
}

TEST(Deploy, PredictsOnTheSharedCicIds2017Sample) {
  METAIDS_REQUIRE_SHARED_DATA("cicids2017-improved-sample");
  const auto config = data::load_experiment_config(std::filesystem::path(METAIDS_SOURCE_DIR) / "configs/cicids2017.json");
  const auto data = data::prepare_experiment(config, test::shared_data_dir());
  const Split split = make_split(data);
  MetaTrainingOptions o = quick_training();
  o.iterations = 60;
  const TrainedLearner trained = train_meta_learner(split, meta::Algorithm::protonet, TaskKind::detection, 2, 5, 0, o);
  const DeployedModel model = build_deployed_model(data, split, trained, TaskKind::detection, 20, 0);
  const auto dir = test::shared_data_dir() / "cicids2017-improved-sample/sampled_CICIDS2017_improved_rnd_5000";
  // A meta-train family the model has reference flows of: nearly all flagged.
  const data::FeatureTable ddos = data::load_dataset(dir / "DDoS_5000.csv", model.schema);
  const Prediction p = predict(model, model.transform.apply(ddos));
  ASSERT_EQ(p.predicted.size(), ddos.rows());
  int flagged = 0;
  for (int c : p.predicted) flagged += c == 1 ? 1 : 0;
  EXPECT_GT(flagged, static_cast<int>(ddos.rows()) * 9 / 10);
  // Missing columns are named.
  data::FeatureTable cut = ddos;
  cut.feature_names[3] = "renamed";
  try {
    (void)model.transform.apply(cut);
    FAIL() << "a missing column was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(ddos.feature_names[3]), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace metaids::eval
