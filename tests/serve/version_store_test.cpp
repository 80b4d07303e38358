#include "serve/version_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "model/digest.h"
#include "serve/requests.h"

namespace metaids::serve {
namespace {

namespace fs = std::filesystem;

struct StoreTest : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / fmt::format("metaids-store-{}-{}", ::getpid(), counter++);
  std::vector<std::string> logged;
  VersionStore::Log log = [this](const std::string& line) { logged.push_back(line); };
  static inline int counter = 0;
  void TearDown() override { fs::remove_all(dir); }
  std::unique_ptr<VersionStore> open(size_t keep = 100, VersionStore::Sync sync = VersionStore::Sync::background) {
    return std::make_unique<VersionStore>(VersionStore::Options{dir, keep, sync}, log);
  }
  static std::optional<VersionStore::Loaded> resume(VersionStore& s) {
    return s.resume([](const VersionStore::Loaded& l) {
      if (l.bytes.rfind("bad", 0) == 0) fail("refused by the test");
    });
  }
};

TEST_F(StoreTest, VersionsAreNamedByTheirChecksumAndResumedAfterARestart) {
  {
    auto store = open(100, VersionStore::Sync::always);
    EXPECT_FALSE(resume(*store));
    const auto a = store->add("model one", "initial", "", "");
    const auto b = store->add("model two", "adapt", "C2", a.version);
    EXPECT_EQ(a.version, model::sha256_hex("model one").substr(0, 12));
    EXPECT_EQ(b.file, fmt::format("versions/000002-{}.mids", b.version));
    EXPECT_EQ(store->current(), b.version);
    EXPECT_EQ(read_whole_file(dir / b.file), "model two");
  }
  auto store = open();
  const auto resumed = resume(*store);
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->bytes, "model two");
  EXPECT_EQ(store->entries().size(), 2u);
  EXPECT_EQ(store->entries()[1].parent, store->entries()[0].version);
}

TEST_F(StoreTest, RollbackIsRememberedAcrossRestarts) {
  std::string first;
  {
    auto store = open();
    first = store->add("model one", "initial", "", "").version;
    store->add("model two", "adapt", "x", first);
    store->set_current(first, "rollback");
  }
  auto store = open();
  EXPECT_EQ(resume(*store)->bytes, "model one");
  EXPECT_EQ(store->log().back()["action"], "rollback");
}

TEST_F(StoreTest, ADamagedCurrentVersionIsSkippedForTheNewestGoodOne) {
  {
    auto store = open();
    store->add("model one", "initial", "", "");
    store->add("bad model two", "adapt", "x", "");  // refused by the caller's check
    const auto three = store->add("model three", "adapt", "y", "");
    store->sync_now();
    std::ofstream(dir / three.file, std::ios::binary | std::ios::trunc) << "model thre3";  // bit rot
  }
  auto store = open();
  const auto resumed = resume(*store);
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->bytes, "model one");
  EXPECT_EQ(store->current(), resumed->entry.version);
  ASSERT_GE(logged.size(), 2u);
  EXPECT_NE(logged[0].find("damaged"), std::string::npos) << logged[0];
}

TEST_F(StoreTest, ALostIndexIsRebuiltFromTheFiles) {
  std::string last;
  {
    auto store = open();
    store->add("model one", "initial", "", "");
    last = store->add("model two", "adapt", "x", "").version;
  }
  fs::remove(dir / "index.json");
  auto store = open();
  EXPECT_EQ(store->entries().size(), 2u);
  EXPECT_EQ(resume(*store)->entry.version, last);
  std::ofstream(dir / "index.json") << "{not json";
  auto again = open();
  EXPECT_EQ(resume(*again)->entry.version, last);
}

TEST_F(StoreTest, OldVersionsArePrunedAndCannotBeRolledBackTo) {
  auto store = open(2);
  const auto a = store->add("1", "initial", "", "");
  store->add("2", "adapt", "", "");
  const auto c = store->add("3", "adapt", "", "");
  store->sync_now();  // the writer has done its work
  EXPECT_FALSE(fs::exists(dir / a.file));
  EXPECT_TRUE(fs::exists(dir / c.file));
  try {
    store->load(a.version);
    FAIL();
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 410);
  }
  try {
    store->load("000000000000");
    FAIL();
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 404);
  }
  EXPECT_EQ(store->load(c.sha256).bytes, "3");
}

TEST_F(StoreTest, IndexEntriesCannotNameFilesOutsideTheState) {
  {
    auto store = open();
    store->add("model one", "initial", "", "");
  }
  auto index = read_json_file(dir / "index.json");
  index["versions"][0]["file"] = "../../etc/passwd";
  write_file_atomically(dir / "index.json", index.dump());
  auto store = open();  // the index is refused and rebuilt from the files
  ASSERT_EQ(store->entries().size(), 1u);
  EXPECT_EQ(store->entries()[0].file.rfind("versions/", 0), 0u);
}

// Versions added faster than the writer writes them: queued indexes are written once (the last
// supersedes the others), files pruned under a skipped index are still removed, and a restart
// finds every kept version and the whole log.
TEST_F(StoreTest, ABurstOfVersionsLeavesOneWholeIndex) {
  std::vector<VersionEntry> added;
  {
    auto store = open(10);
    for (int i = 0; i < 60; ++i) added.push_back(store->add(fmt::format("model {}", i), "adapt", "C2", ""));
    store->sync_now();
    EXPECT_EQ(store->log().size(), 60u);
  }
  size_t files = 0;
  for (const auto& item : fs::directory_iterator(dir / "versions")) files += item.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 10u);
  auto store = open(10);
  const auto resumed = resume(*store);
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->bytes, "model 59");
  const auto entries = store->entries();
  ASSERT_EQ(entries.size(), 10u);
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].version, added[50 + i].version);
    EXPECT_EQ(entries[i].label, "C2");
    EXPECT_TRUE(fs::exists(dir / entries[i].file));
  }
  const auto events = store->log();
  ASSERT_GE(events.size(), 60u);
  EXPECT_EQ(events[0]["version"], added[0].version);
  EXPECT_EQ(events[59]["detail"], "label C2");
}

// A version the writer cannot write (here the versions directory became a file) is counted and
// logged; it stays the current one (the service holds it in memory) but cannot be read back.
// /metrics shows the count.
TEST_F(StoreTest, AFailedWriteIsCountedAndLogged) {
  auto store = open();
  store->add("model one", "initial", "", "");
  store->sync_now();
  EXPECT_EQ(store->write_errors(), 0u);
  fs::remove_all(dir / "versions");
  std::ofstream(dir / "versions") << "not a directory";
  const auto two = store->add("model two", "adapt", "x", "");
  store->sync_now();
  EXPECT_GE(store->write_errors(), 1u);
  EXPECT_EQ(store->current(), two.version);
  try {
    store->load(two.version);
    FAIL() << "a version that was never written was read back";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 409);
  }
  ASSERT_FALSE(logged.empty());
  EXPECT_NE(logged.back().find("may not survive a restart"), std::string::npos) << logged.back();
}

}  // namespace
}  // namespace metaids::serve
