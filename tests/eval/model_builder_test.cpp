#include "eval/model_builder.h"

#include <gtest/gtest.h>

#include "common/shared_data.h"
#include "core/error.h"
#include "data/loaders.h"
#include "eval/experiment.h"
#include "model/model.h"
#include "model/scoring.h"
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

ModelBuildOptions build_options() {
  ModelBuildOptions o;
  o.support_per_class = 10;
  o.benign_reference = 100;
  o.reference_per_class = 20;
  return o;
}

std::vector<model::Verdict> score(const model::Model& m, const data::FeatureMatrix& rows) {
  model::Scorer scorer(m);
  std::vector<model::Verdict> out;
  scorer.score(rows.transpose(), out);
  return out;
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
  model::Model train(meta::Algorithm algorithm, TaskKind task) const {
    const TrainedLearner trained = train_meta_learner(split, algorithm, task, 5, 5, 0, quick_training());
    return build_model(data, split, trained, task, build_options());
  }
  // The raw rows of one label, transformed.
  data::FeatureMatrix rows_of(const std::string& label) const {
    const data::FeatureTable table = data::load_dataset(dir.path() / "flows.csv", experiment_schema(data.config));
    const auto rows = table.rows_of_class(label);
    return data.transform.apply(table.select_rows(rows));
  }
};

TEST(ModelBuilder, SaveLoadScoreIsBitIdentical) {
  Fixture f;
  for (meta::Algorithm algorithm : {meta::Algorithm::protonet, meta::Algorithm::maml, meta::Algorithm::metasgd}) {
    const model::Model m = f.train(algorithm, TaskKind::detection);
    const auto path = f.dir.path() / "model.mids";
    model::save(path, m);
    const model::Model back = model::load(path);
    EXPECT_EQ(back.class_names(), (std::vector<std::string>{"BENIGN", "ATTACK"}));
    EXPECT_EQ(back.version(), m.version());
    const auto a = score(m, f.data.meta_test_x), b = score(back, f.data.meta_test_x);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].predicted, b[i].predicted) << meta::to_string(algorithm);
      EXPECT_EQ(a[i].margin, b[i].margin) << meta::to_string(algorithm);
      EXPECT_EQ(a[i].novelty, b[i].novelty) << meta::to_string(algorithm);
    }
  }
}

TEST(ModelBuilder, WithoutNewClassesScoringEqualsTheLearnersOwnAdaptation) {
  Fixture f;
  for (meta::Algorithm algorithm : {meta::Algorithm::maml, meta::Algorithm::anil, meta::Algorithm::protonet}) {
    const TrainedLearner trained = train_meta_learner(f.split, algorithm, TaskKind::detection, 2, 5, 0, quick_training());
    const model::Model m = build_model(f.data, f.split, trained, TaskKind::detection, build_options());
    Task<float> task;
    task.ways = 2;
    task.support = {m.support_x, m.support_y};
    task.query.x = f.data.meta_test_x.topRows(50).transpose();
    task.query.y.assign(50, 0);
    meta::Scratch<float> scratch;
    const Matrix<float> expected = adapted_logits(*trained.learner, trained.phi, task, scratch);
    const auto verdicts = score(m, f.data.meta_test_x.topRows(50));
    for (int j = 0; j < 50; ++j) {
      const float margin = verdicts[static_cast<size_t>(j)].margin + static_cast<float>(m.calibration.threshold_for(1));
      EXPECT_NEAR(margin, expected(1, j) - expected(0, j),
                  1e-3f * (1 + std::fabs(expected(1, j) - expected(0, j))))
          << meta::to_string(algorithm);
      Eigen::Index best = 0;
      expected.col(j).maxCoeff(&best);
      EXPECT_EQ(verdicts[static_cast<size_t>(j)].predicted, best) << meta::to_string(algorithm);
    }
  }
}

TEST(ModelBuilder, AdaptAddsAClassAndDetectsIt) {
  Fixture f;
  for (meta::Algorithm algorithm : {meta::Algorithm::protonet, meta::Algorithm::maml}) {
    model::Model m = f.train(algorithm, TaskKind::detection);
    m.calibration.threshold = 0;
    m.calibration.class_thresholds.clear();
    m.calibration.novelty_threshold = std::numeric_limits<double>::infinity();
    const data::FeatureMatrix t1 = f.rows_of("T1");
    EXPECT_TRUE(model::add_support(m, t1.topRows(5), "T1", {{"source", "test"}}));
    ASSERT_EQ(m.classes.size(), 3u);
    EXPECT_EQ(m.history.back()["event"], "adapt");
    EXPECT_EQ(m.history.back()["label"], "T1");
    // Survives a save/load.
    model::save(f.dir.path() / "adapted.mids", m);
    const model::Model back = model::load(f.dir.path() / "adapted.mids");
    const auto held_out = score(back, t1.bottomRows(t1.rows() - 5));
    int as_t1 = 0;
    for (const auto& v : held_out) as_t1 += v.reported == 2 ? 1 : 0;
    EXPECT_GT(as_t1, static_cast<int>(held_out.size()) * 8 / 10) << meta::to_string(algorithm);
    const auto benign = score(back, f.rows_of("BENIGN").bottomRows(100));
    int as_benign = 0;
    for (const auto& v : benign) as_benign += v.reported == 0 ? 1 : 0;
    EXPECT_GT(as_benign, 80) << meta::to_string(algorithm);
    // More flows of a known class join it.
    EXPECT_FALSE(model::add_support(m, t1.middleRows(5, 3), "T1", {}));
    EXPECT_EQ(m.classes.size(), 3u);
  }
}

TEST(ModelBuilder, TheAlertThresholdGivesTheRequestedRateOnTheReferenceFlows) {
  Fixture f;
  const model::Model m = f.train(meta::Algorithm::protonet, TaskKind::classification);
  EXPECT_EQ(m.calibration.method, "reference");
  EXPECT_LE(m.calibration.reference_fpr, 0.01 + 1e-12);
  model::Matrix<float> margins;
  std::vector<float> novelty;
  model::class_margins(m, m.reference_x, margins, novelty);
  ASSERT_EQ(m.calibration.class_thresholds.size(), m.classes.size());
  int benign = 0, alerts = 0;
  for (size_t j = 0; j < m.reference_y.size(); ++j) {
    if (m.reference_y[j] != 0) continue;
    ++benign;
    bool any = false;
    for (size_t k = 1; k < m.classes.size(); ++k)
      any = any || margins(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(j)) >= m.calibration.class_thresholds[k];
    alerts += any ? 1 : 0;
  }
  EXPECT_EQ(benign, 100);
  EXPECT_LE(alerts, 1);
}

TEST(ModelBuilder, CorruptOrForeignModelsAreRejected) {
  Fixture f;
  const model::Model m = f.train(meta::Algorithm::protonet, TaskKind::classification);
  model::ModelFile file = model::to_file(m);
  file.tensors[0].values.pop_back();
  EXPECT_THROW(model::from_file(file), Error);
  file = model::to_file(m);
  file.header.erase("task");
  EXPECT_THROW(model::from_file(file), Error);
}

TEST(ModelBuilder, ScoresTheSharedCicIds2017Sample) {
  METAIDS_REQUIRE_SHARED_DATA("cicids2017-improved-sample");
  const auto config = data::load_experiment_config(std::filesystem::path(METAIDS_SOURCE_DIR) / "configs/cicids2017.json");
  const auto data = data::prepare_experiment(config, test::shared_data_dir());
  const Split split = make_split(data);
  MetaTrainingOptions o = quick_training();
  o.iterations = 60;
  const TrainedLearner trained = train_meta_learner(split, meta::Algorithm::protonet, TaskKind::detection, 2, 5, 0, o);
  ModelBuildOptions b;
  const model::Model m = build_model(data, split, trained, TaskKind::detection, b);
  const auto dir = test::shared_data_dir() / "cicids2017-improved-sample/sampled_CICIDS2017_improved_rnd_5000";
  // A meta-train family the model has reference flows of: nearly all flagged.
  const data::FeatureTable ddos = data::load_dataset(dir / "DDoS_5000.csv", m.schema);
  const auto verdicts = score(m, m.transform.apply(ddos));
  ASSERT_EQ(verdicts.size(), ddos.rows());
  int flagged = 0;
  for (const auto& v : verdicts) flagged += v.alert ? 1 : 0;
  EXPECT_GT(flagged, static_cast<int>(ddos.rows()) * 9 / 10);
  // Missing columns are named.
  data::FeatureTable cut = ddos;
  cut.feature_names[3] = "renamed";
  try {
    (void)m.transform.apply(cut);
    FAIL() << "a missing column was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(ddos.feature_names[3]), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace metaids::eval
