#include "serve/service.h"

#include <gtest/gtest.h>

#include "model/digest.h"
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "serve/traffic.h"

namespace metaids::serve {
namespace {

namespace fs = std::filesystem;
using testing::first_rows;
using testing::traffic;

struct ServiceTest : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / fmt::format("metaids-service-{}-{}", ::getpid(), counter++);
  std::vector<std::string> logged;
  static inline int counter = 0;
  void TearDown() override { fs::remove_all(dir); }
  std::unique_ptr<Service> open(size_t keep = 100, size_t max_class_flows = model::kDefaultMaxClassFlows) {
    ServiceOptions o;
    o.state = dir;
    o.keep_versions = keep;
    o.max_class_flows = max_class_flows;
    return std::make_unique<Service>(o, [this](const std::string& line) { logged.push_back(line); });
  }
  static nlohmann::json score(Service& s, const std::string& csv) {
    const auto snap = s.snapshot();
    return nlohmann::json::parse(s.score(parse_flow_rows(csv, BodyFormat::csv, snap->layout, 100000), *snap));
  }
  static size_t count_class(const nlohmann::json& scored, const std::string& name) {
    size_t n = 0;
    for (const auto& r : scored["results"]) n += r["class"] == name;
    return n;
  }
};

TEST_F(ServiceTest, SeedsAnEmptyStateAndServesTheModelsOwnVersion) {
  auto s = open();
  const auto snap = s->snapshot();
  EXPECT_EQ(snap->entry.version, snap->model->version());
  EXPECT_EQ(snap->entry.seq, 1);
  EXPECT_EQ(snap->etag, "\"" + model::sha256_hex(*snap->bytes) + "\"");
  const nlohmann::json info = s->model_info();
  EXPECT_EQ(info["version"], snap->entry.version);
  EXPECT_EQ(info["versions"].size(), 1u);
  EXPECT_EQ(info["classes"][0]["threshold"], nullptr);
}

TEST_F(ServiceTest, AdaptationByFlowIdsMakesANewVersionThatDetectsTheNewClass) {
  auto s = open();
  const std::string before_version = s->snapshot()->entry.version;
  const nlohmann::json before = score(*s, traffic().beacon);
  EXPECT_EQ(count_class(before, "C2 beacon"), 0u);
  std::vector<std::uint64_t> ids;
  for (size_t i = 0; i < 5; ++i) ids.push_back(before["results"][i]["flow_id"]);
  AdaptRequest request;
  request.label = "C2 beacon";
  request.flow_ids = ids;
  const nlohmann::json adapted = s->adapt(request, *s->snapshot(), "test");
  EXPECT_EQ(adapted["previous"], before_version);
  EXPECT_EQ(adapted["added"], nlohmann::json::array({"C2 beacon"}));
  EXPECT_EQ(s->snapshot()->entry.version, adapted["version"]);
  EXPECT_EQ(s->snapshot()->model->version(), adapted["version"]);
  const nlohmann::json after = score(*s, traffic().beacon);
  EXPECT_EQ(after["version"], adapted["version"]);
  EXPECT_GT(count_class(after, "C2 beacon"), after["results"].size() / 2) << after.dump().substr(0, 500);
  EXPECT_EQ(s->snapshot()->model->history.back()["event"], "adapt");
  // A restart resumes the adapted version, and the flows it had scored are gone.
  s.reset();
  s = open();
  EXPECT_EQ(s->snapshot()->entry.version, adapted["version"]);
  try {
    s->adapt(request, *s->snapshot(), "test");
    FAIL() << "flow ids of before the restart";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 404);
  }
}

TEST_F(ServiceTest, AdaptationFromRowsThenRollback) {
  auto s = open();
  const std::string first = s->snapshot()->entry.version;
  const auto snap = s->snapshot();
  const AdaptRequest request = parse_adapt_request(first_rows(traffic().beacon, 5), BodyFormat::csv, "C2 beacon",
                                                   snap->layout, RequestLimits{});
  const nlohmann::json adapted = s->adapt(request, *snap, "test");
  EXPECT_EQ(adapted["flows"], 5);
  EXPECT_GT(count_class(score(*s, traffic().beacon), "C2 beacon"), 0u);
  const nlohmann::json back = s->rollback({first});
  EXPECT_EQ(back["version"], first);
  EXPECT_EQ(back["previous"], adapted["version"]);
  EXPECT_EQ(count_class(score(*s, traffic().beacon), "C2 beacon"), 0u);
  s.reset();
  s = open();
  EXPECT_EQ(s->snapshot()->entry.version, first);
  EXPECT_EQ(s->versions()["versions"].size(), 2u);
}

TEST_F(ServiceTest, ScoringGoesOnWhileAdaptationsSwapTheModel) {
  auto s = open();
  std::set<std::string> published = {s->snapshot()->entry.version};
  std::mutex published_mutex;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<std::uint64_t> batches{0};
  std::vector<std::thread> scorers;
  const std::string csv = first_rows(traffic().mixed, 100);
  std::vector<std::set<std::string>> seen(3);
  for (int t = 0; t < 3; ++t)
    scorers.emplace_back([&, t] {
      while (!stop.load()) {
        try {
          const nlohmann::json r = score(*s, csv);
          if (r["results"].size() != 100) ++failures;
          seen[static_cast<size_t>(t)].insert(r["version"].get<std::string>());
          ++batches;
        } catch (...) {
          ++failures;
        }
      }
    });
  const auto snap = s->snapshot();
  for (int i = 0; i < 6; ++i) {
    const AdaptRequest request = parse_adapt_request(first_rows(traffic().beacon, 3 + i), BodyFormat::csv,
                                                     fmt::format("class {}", i % 2), snap->layout, RequestLimits{});
    const std::uint64_t before = batches.load();
    const nlohmann::json r = s->adapt(request, *snap, "test");
    {
      std::lock_guard lock(published_mutex);
      published.insert(r["version"].get<std::string>());
    }
    // Scoring did not wait for the adaptation to be finished to go on.
    while (batches.load() < before + 3) std::this_thread::yield();
  }
  stop = true;
  for (auto& t : scorers) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (const auto& versions : seen)
    for (const auto& v : versions) EXPECT_TRUE(published.count(v)) << v << " was never published";
  EXPECT_EQ(s->versions()["versions"].size(), 7u);
  EXPECT_EQ(s->snapshot()->model->classes.back().name, "class 1");
}

// --max-class-flows: a class labelled again and again keeps its most recent flows.
TEST_F(ServiceTest, AClassKeepsItsMostRecentFlows) {
  auto s = open(100, 4);
  auto snap = s->snapshot();
  s->adapt(parse_adapt_request(first_rows(traffic().beacon, 3), BodyFormat::csv, "C2", snap->layout, {}), *snap, "test");
  snap = s->snapshot();
  const nlohmann::json answer =
      s->adapt(parse_adapt_request(first_rows(traffic().beacon, 6), BodyFormat::csv, "C2", snap->layout, {}), *snap, "test");
  EXPECT_EQ(answer["dropped"], 2);
  snap = s->snapshot();
  const model::Model& m = *snap->model;
  const int c2 = m.class_index("C2");
  ASSERT_GE(c2, 0);
  EXPECT_EQ(std::count(m.support_y.begin(), m.support_y.end(), c2), 4);
  EXPECT_EQ(m.history.back()["flows"], 3);
  EXPECT_EQ(m.history.back()["duplicates"], 3);
  EXPECT_EQ(m.history.back()["dropped"], 2);
}

TEST_F(ServiceTest, OnlyTheLastVersionsAreKept) {
  auto s = open(3);
  const std::string first = s->snapshot()->entry.version;
  const auto snap = s->snapshot();
  for (int i = 0; i < 4; ++i)
    s->adapt(parse_adapt_request(first_rows(traffic().beacon, 2 + i), BodyFormat::csv, "b", snap->layout, {}), *snap,
             "test");
  try {
    s->rollback({first});
    FAIL();
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 410);
  }
  size_t files = 0;
  for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir / "versions")) ++files;
  EXPECT_EQ(files, 3u);
}

TEST_F(ServiceTest, AlertsAndFlowsCanBeFilteredByClassAndHost) {
  auto s = open();
  const nlohmann::json scored = score(*s, traffic().mixed);
  const nlohmann::json all = s->alerts({}, 10000)["alerts"];
  EXPECT_EQ(all.size(), scored["alerts"].get<size_t>());
  ASSERT_FALSE(all.empty());
  const std::string cls = all[0]["class"], host = all[0]["src_ip"];
  // (The answers are kept in locals: a range-for over a member of a temporary would read freed memory.)
  const nlohmann::json by_class = s->alerts({.signature = cls, .host = "", .since_us = 0}, 10000);
  ASSERT_FALSE(by_class["alerts"].empty());
  for (const auto& a : by_class["alerts"]) EXPECT_EQ(a["class"], cls);
  const nlohmann::json by_host = s->alerts({.signature = "", .host = host, .since_us = 0}, 10000);
  ASSERT_FALSE(by_host["alerts"].empty());
  for (const auto& a : by_host["alerts"]) EXPECT_TRUE(a["src_ip"] == host || a["dest_ip"] == host);
  const std::uint64_t id = all[0]["flow_id"];
  const nlohmann::json detail = s->flow_detail(id);
  EXPECT_EQ(detail["features"].size(), static_cast<size_t>(s->snapshot()->model->features()));
  EXPECT_EQ(s->flows("", {id, 1}, 10)["missing"], nlohmann::json::array({1}));
}

}  // namespace
}  // namespace metaids::serve
